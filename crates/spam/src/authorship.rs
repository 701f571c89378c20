//! Whether a message's author is authenticated, for known senders (`KNOWN_SENDER`): the
//! alignment of an authenticated domain with the `From:` domain ([`within`], used when a
//! message arrives), and the same read back later from the `Authentication-Results:` field
//! hermod wrote on top of a stored message ([`authenticated_author_of`], used when the user
//! moves mail into or out of Junk).

/// Whether `domain` is `parent` or below it, `parent` having at least two labels: the
/// relaxed alignment of RFC 7489 3.1, without a public-suffix list.
pub fn within(domain: &str, parent: &str) -> bool {
    let below = domain
        .strip_suffix(parent)
        .is_some_and(|head| head.is_empty() || head.ends_with('.'));
    below && parent.trim_matches('.').contains('.')
}

/// The author (the one `From:` address, lowercase) of a stored message when the
/// `Authentication-Results:` field hermod wrote on top of it, in `hostname`'s name, shows the
/// author's domain authenticated: DMARC passed for it, or a passing DKIM signature's domain
/// or the SPF-passing MAIL FROM domain is that domain or a parent of it. Fields from
/// elsewhere never count: delivery removes any claiming hermod's name, and the first field
/// is hermod's own.
pub fn authenticated_author_of(raw: &[u8], hostname: &str) -> Option<String> {
    let message = crate::parse(raw)?;
    let mut froms = message.from()?.iter();
    let author = froms.next()?.address()?.to_ascii_lowercase();
    if froms.next().is_some() {
        return None;
    }
    // The first field (mail-parser's `header_raw` would give the last).
    let (_, results) = (message.headers_raw())
        .find(|(name, _)| name.eq_ignore_ascii_case("Authentication-Results"))?;
    let results = without_comments(results);
    let mut parts = results.split(';');
    let authserv_id = parts.next()?.split_whitespace().next()?;
    if !authserv_id.eq_ignore_ascii_case(hostname) {
        return None;
    }
    let (_, domain) = author.rsplit_once('@').filter(|(_, d)| d.contains('.'))?;
    let authenticated = parts.any(|result| authenticates(result, domain));
    authenticated.then_some(author)
}

/// Whether one result of the field (`dkim=pass header.d=...`) authenticates `domain`.
fn authenticates(result: &str, domain: &str) -> bool {
    let mut words = result.split_whitespace();
    let Some(method) = words.next() else {
        return false;
    };
    let property = |name: &str| {
        let mut words = result.split_whitespace();
        words.find_map(|w| {
            w.strip_prefix(name)
                .map(|v| v.trim_matches('"').to_lowercase())
        })
    };
    match method.to_ascii_lowercase().as_str() {
        "dmarc=pass" => property("header.from=").is_some_and(|d| d == domain),
        "dkim=pass" => property("header.d=").is_some_and(|d| within(domain, &d)),
        "spf=pass" => property("smtp.mailfrom=")
            .and_then(|from| Some(from.rsplit_once('@')?.1.to_owned()))
            .is_some_and(|d| within(domain, &d)),
        _ => false,
    }
}

/// `text` without its parenthesised comments (RFC 5322 CFWS; they may quote the sender's
/// own words, such as the MAIL FROM address in SPF's explanation).
fn without_comments(text: &str) -> String {
    let (mut out, mut depth, mut escaped) = (String::with_capacity(text.len()), 0usize, false);
    for c in text.chars() {
        match (c, depth) {
            _ if escaped => escaped = false,
            ('\\', 1..) => escaped = true,
            ('(', _) => depth += 1,
            (')', 1..) => depth -= 1,
            (c, 0) => out.push(c),
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alignment_is_the_domain_or_a_parent_of_two_labels_or_more() {
        assert!(within("friend.test", "friend.test"));
        assert!(within("mail.friend.test", "friend.test"));
        assert!(within("a.b.friend.test", "b.friend.test"));
        assert!(
            !within("evilfriend.test", "friend.test"),
            "a label boundary"
        );
        assert!(
            !within("friend.test", "mail.friend.test"),
            "a child does not cover"
        );
        assert!(
            !within("friend.test", "test"),
            "a bare top-level domain covers nothing"
        );
        assert!(!within("friend.test", ".test"));
    }

    fn stored(from: &str, results: &str) -> Vec<u8> {
        format!(
            "Received: from x by mx.example.test\r\nAuthentication-Results: {results}\r\n\
             Authentication-Results: mx.example.test; dmarc=pass header.from=friend.test\r\n\
             From: {from}\r\nSubject: hi\r\n\r\nbody\r\n"
        )
        .into_bytes()
    }

    #[test]
    fn our_own_results_name_the_authenticated_author() {
        let ours = |results: &str| {
            authenticated_author_of(
                &stored("Friend <Friend@Friend.test>", results),
                "mx.example.test",
            )
        };
        let friend = Some("friend@friend.test".to_owned());
        assert_eq!(
            ours("mx.example.test; dmarc=pass header.from=friend.test"),
            friend
        );
        assert_eq!(
            ours("MX.example.test;\r\n\tdkim=pass header.d=friend.test header.s=s1;\r\n\tspf=fail"),
            friend
        );
        assert_eq!(
            ours(
                "mx.example.test; spf=pass (domain of a@mail.friend.test) smtp.mailfrom=b@friend.test"
            ),
            friend
        );
        // Failing, unaligned, or another host's field: nothing, whatever follows it.
        assert_eq!(
            ours("mx.example.test; dkim=fail header.d=friend.test"),
            None
        );
        assert_eq!(ours("mx.example.test; dkim=pass header.d=other.test"), None);
        assert_eq!(
            ours("mx.example.test; dmarc=pass header.from=other.test"),
            None
        );
        assert_eq!(
            ours("elsewhere.test; dmarc=pass header.from=friend.test"),
            None
        );
        // A comment quoting what the sender chose proves nothing.
        assert_eq!(
            ours(
                "mx.example.test; spf=pass (smtp.mailfrom=x@friend.test) smtp.mailfrom=x@evil.test"
            ),
            None
        );
        assert_eq!(
            ours(
                "mx.example.test; spf=pass smtp.mailfrom=x@evil.test (\\) smtp.mailfrom=x@friend.test)"
            ),
            None
        );
    }

    #[test]
    fn several_authors_no_author_or_a_bare_domain_name_no_one() {
        let results = "mx.example.test; dmarc=pass header.from=friend.test";
        let two = stored("a@friend.test, b@friend.test", results);
        assert_eq!(authenticated_author_of(&two, "mx.example.test"), None);
        let bare = b"Authentication-Results: mx.example.test; dmarc=pass header.from=\r\n\
            From: a@\r\n\r\nbody";
        assert_eq!(authenticated_author_of(bare, "mx.example.test"), None);
        let none =
            b"Authentication-Results: mx.example.test; dmarc=pass header.from=x.test\r\n\r\nbody";
        assert_eq!(authenticated_author_of(none, "mx.example.test"), None);
    }
}
