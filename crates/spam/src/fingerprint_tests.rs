use super::*;

const NAMES: &[&str] = &["Anna", "Bob", "Carlos", "Dmitri", "Eve", "Fatima", "Gunnar"];
const FILLER: &[&str] = &[
    "apple", "river", "quiet", "orbit", "velvet", "marble", "lantern", "harbor", "pepper",
    "meadow", "cobalt", "willow", "tundra", "saffron", "glacier", "ember",
];

/// A tiny deterministic generator, so the variations are the same on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = mix(self.0.wrapping_add(0x9e37_79b9_7f4a_7c15));
        self.0
    }
    fn pick<'a>(&mut self, from: &[&'a str]) -> &'a str {
        from[(self.next() % from.len() as u64) as usize]
    }
    fn token(&mut self) -> String {
        format!("{:x}", self.next())
    }
}

/// One copy of a phishing mailing, varied as spammers vary them.
fn spam_copy(rng: &mut Rng, i: usize) -> (String, String) {
    let name = rng.pick(NAMES);
    let token = rng.token();
    let tail: Vec<&str> = (0..4).map(|_| rng.pick(FILLER)).collect();
    let subject = format!("{name}, your refund is waiting");
    let body = format!(
        "Hi {name},\n\nOur records show that a refund of ${}.{:02} was approved for your \
         account on {}/11/2026. To receive the transfer you must confirm your details \
         within the next two days, otherwise the payment will be returned to the sender.\n\n\
         Confirm here: https://refunds.example.test/claim?id={token}&r={i}\n\n\
         Reference: {token}\nThe Refund Department\n\n{}\n",
        100 + i % 400,
        i % 100,
        1 + i % 28,
        tail.join(" ")
    );
    (subject, body)
}

fn html_message(subject: &str, html: &str) -> Vec<u8> {
    format!(
        "From: a@example.test\r\nSubject: {subject}\r\nMIME-Version: 1.0\r\n\
         Content-Type: text/html; charset=utf-8\r\n\r\n{html}\r\n"
    )
    .into_bytes()
}

fn text_message(subject: &str, body: &str) -> Vec<u8> {
    format!(
        "From: a@example.test\r\nSubject: {subject}\r\nContent-Type: text/plain\r\n\r\n{}\r\n",
        body.replace('\n', "\r\n")
    )
    .into_bytes()
}

#[test]
fn copies_varied_like_spam_are_alike() {
    let mut rng = Rng(7);
    let copies: Vec<Fingerprint> = (0..50)
        .map(|i| {
            let (s, b) = spam_copy(&mut rng, i);
            Fingerprint::of_text(&s, &b).unwrap()
        })
        .collect();
    for (i, a) in copies.iter().enumerate() {
        for b in &copies[i + 1..] {
            assert!(a.is_copy_of(b), "similarity {}", a.similarity(b));
        }
    }
}

#[test]
fn html_and_text_copies_are_alike() {
    let text = "Dear Anna,\n\nThe spring collection has arrived at our store. Every jacket \
                and every pair of boots is reduced this week only, while stocks last.\n\n\
                Shop now: https://shop.example.test/spring?u=123\n";
    let html = "<html><body><p>Dear Bob,</p><p>The spring collection has arrived at our \
                <b>store</b>. Every jacket and every pair of boots is reduced this week \
                only, while stocks last.</p><p><a href=\"https://shop.example.test/spring?u=456\">\
                Shop now</a></p></body></html>";
    let a = Fingerprint::of(&text_message("Spring sale", text)).unwrap();
    let b = Fingerprint::of(&html_message("Spring sale", html)).unwrap();
    assert!(a.is_copy_of(&b), "similarity {}", a.similarity(&b));
}

#[test]
fn multipart_alternative_reads_the_text_part() {
    let raw = "From: a@example.test\r\nSubject: Meeting notes\r\nMIME-Version: 1.0\r\n\
               Content-Type: multipart/alternative; boundary=\"b\"\r\n\r\n--b\r\n\
               Content-Type: text/plain\r\n\r\nThe notes of today's meeting are attached, \
               please read them before Friday and send me your corrections.\r\n--b\r\n\
               Content-Type: text/html\r\n\r\n<p>The notes of today's meeting are attached, \
               please read them before Friday and send me your corrections.</p>\r\n--b--\r\n";
    let whole = Fingerprint::of(raw.as_bytes()).unwrap();
    let plain = Fingerprint::of_text(
        "Meeting notes",
        "The notes of today's meeting are attached, please read them before Friday and send \
         me your corrections.",
    )
    .unwrap();
    assert!(
        whole.is_copy_of(&plain),
        "similarity {}",
        whole.similarity(&plain)
    );
}

/// Ordinary messages on different subjects, some sharing phrases and a signature, must not
/// be taken for copies of one another.
#[test]
fn distinct_messages_do_not_collide() {
    let signature = "\n\n--\nAnna Schmidt\nHead of Operations, Example Ltd\nPhone +49 30 1234567\n";
    let bodies = [
        "Could you send me the quarterly figures before the board meeting on Thursday? I need them to prepare the slides.",
        "Thanks for the lovely dinner yesterday, the kids are still talking about the dessert. Let's do it again soon at our place.",
        "The build is broken on the main branch since this morning; the linker cannot find the new storage module. Can you have a look?",
        "Reminder: the office will be closed on Monday for the public holiday. Please plan your deliveries accordingly.",
        "I have attached the signed contract. Please countersign page four and return a scan by the end of the week.",
        "Are you coming to the football match on Saturday? We still have two tickets and would love some company.",
        "The invoice you sent us lists the wrong VAT number; could you issue a corrected one so that we can pay it?",
        "Our new intern starts tomorrow. Could you show her around and make sure her laptop and accounts are ready?",
        "Could you send me the slides from the board meeting? I missed the start because my train was late.",
        "The printer on the second floor is out of toner again; I ordered a new cartridge but it will take three days.",
    ];
    let prints: Vec<Fingerprint> = bodies
        .iter()
        .enumerate()
        .map(|(i, b)| {
            Fingerprint::of_text(&format!("note {i}"), &format!("{b}{signature}")).unwrap()
        })
        .collect();
    for (i, a) in prints.iter().enumerate() {
        for (j, b) in prints.iter().enumerate().skip(i + 1) {
            assert!(
                !a.is_copy_of(b),
                "{i} and {j}: similarity {}",
                a.similarity(b)
            );
        }
    }
}

#[test]
fn short_texts_get_no_fingerprint() {
    assert!(Fingerprint::of_text("", "Thanks!").is_none());
    assert!(Fingerprint::of_text("Re: lunch", "ok, see you then").is_none());
    assert!(Fingerprint::of(b"Subject: x\r\n\r\n").is_none());
}

#[test]
fn bands_follow_the_signature_and_bytes_round_trip() {
    let mut rng = Rng(3);
    let (s, b) = spam_copy(&mut rng, 1);
    let print = Fingerprint::of_text(&s, &b).unwrap();
    assert_eq!(print.bands().len(), BANDS);
    assert_eq!(
        Fingerprint::from_bytes(&print.to_bytes()),
        Some(print.clone())
    );
    assert_eq!(Fingerprint::from_bytes(&[1, 2, 3]), None);
    let same = Fingerprint::of_text(&s, &b).unwrap();
    assert_eq!(same.bands(), print.bands(), "deterministic");
    assert_eq!(print.label().len(), 8);
}

/// Copies of one mailing share at least one band (what makes the store find them), and
/// the numbers do not change between builds (stored signatures stay comparable).
#[test]
fn copies_share_a_band_and_signatures_are_stable() {
    let mut rng = Rng(11);
    let first = {
        let (s, b) = spam_copy(&mut rng, 0);
        Fingerprint::of_text(&s, &b).unwrap()
    };
    for i in 1..100 {
        let (s, b) = spam_copy(&mut rng, i);
        let copy = Fingerprint::of_text(&s, &b).unwrap();
        let shared = first
            .bands()
            .iter()
            .zip(copy.bands())
            .filter(|(a, b)| **a == *b)
            .count();
        assert!(shared > 0, "copy {i} shares no band with the first");
    }
    let fixed = Fingerprint::of_text("hello world", "one two three four five six seven").unwrap();
    // Computed independently (Python) when the scheme was made: a change of hashing would
    // make every stored signature incomparable with new ones.
    assert_eq!(fixed.signature[0], 226_087_504);
}

#[test]
fn greetings_links_and_numbers_are_normalised() {
    assert!(is_greeting("Hi Anna,"));
    assert!(is_greeting("Dear Mr. Smith:"));
    assert!(is_greeting("Hello Bob"));
    assert!(!is_greeting("The meeting moved to Thursday, please note."));
    assert_eq!(
        url_host("<https://User@Track.Example.test:8080/x?id=1>").as_deref(),
        Some("track.example.test")
    );
    assert_eq!(
        url_host("www.shop.test/a").as_deref(),
        Some("www.shop.test")
    );
    assert_eq!(url_host("plainword"), None);
    assert_eq!(
        link_hosts("<a href=\"https://a.test/x\">x</a> <img src='http://b.test/p.png'>"),
        ["a.test", "b.test"]
    );
    assert_eq!(strip_reply_prefixes("Re: Fwd: RE: hello"), "hello");
    assert_eq!(strip_reply_prefixes("Re:hello"), "hello");
    assert_eq!(strip_reply_prefixes("日本語の件名"), "日本語の件名");
    assert_eq!(strip_reply_prefixes("Réponse"), "Réponse");
    assert!(Fingerprint::of_text("日本語の件名（サブジェクト）", "短い").is_none());
}

/// The whole signature of texts that take every path of the normalisation (links, HTML,
/// addresses, digits, long words, capitals, non-ASCII words, a greeting) is what it was
/// when the scheme was made: making the fingerprint faster must not change one number.
#[test]
fn signatures_do_not_change() {
    let digest = |print: Fingerprint| {
        print
            .signature
            .iter()
            .fold(FNV_START, |h, n| fnv(h, &n.to_le_bytes()))
    };
    let text = Fingerprint::of_text(
        "Re: FWD: Your Invoice 2024 is ready",
        "Hello Anna,\n\nYour INVOICE for the Quarter is attached; see \
         https://Billing.Example.COM/pay?id=123 or www.example.org/x (reply to bob@x.test).\n\
         Straße ÖSTERREICH ΟΔΥΣΣΕΥΣ naïve café supercalifragilisticexpialidocious 12abc \
         meeting report quarter budget customer delivery schedule review project thanks.\n",
    )
    .unwrap();
    assert_eq!(digest(text), 11_325_216_977_766_082_773);
    let raw = html_message(
        "Weekly summary",
        "<p>Dear team,</p><p>The <b>weekly</b> summary: numbers, release, \
         <a href=\"https://news.example.net/a?u=9\">read more</a> and \
         <a href='http://Tracker.Example.net/t'>unsubscribe</a> now please.</p>",
    );
    assert_eq!(
        digest(Fingerprint::of(&raw).unwrap()),
        6_059_120_580_832_012_550
    );
}
