//! THREAD and UID THREAD (RFC 5256 3): ORDEREDSUBJECT (by base subject, then sent date) and
//! REFERENCES (the message-id links, with the subject merge for what has lost them).

use super::sort::Sortable;
use super::{Done, Session, reply};
use hermod_proto::imap::{CommandBody, Response, Thread};
use std::cmp::Ordering;
use std::collections::HashMap;
use tokio::io::{AsyncRead, AsyncWrite};

impl<S: AsyncRead + AsyncWrite + Unpin + Send> Session<S> {
    pub(super) async fn thread(&mut self, body: CommandBody) -> Done {
        let CommandBody::Thread {
            uid,
            algorithm,
            charset,
            search,
        } = body
        else {
            return Done::bad(reply::NOT_SUPPORTED);
        };
        let threads: fn(&[Sortable], bool) -> Vec<Thread> = match algorithm.as_str() {
            "ORDEREDSUBJECT" => ordered_subject,
            "REFERENCES" => references,
            _ => return Done::bad("unknown THREAD algorithm"),
        };
        let rows = match self.sortable(&charset, &search, true).await {
            Ok(rows) => rows,
            Err(done) => return done,
        };
        self.send(&Response::Thread(threads(&rows, uid)));
        Done::ok("THREAD completed")
    }
}

/// Sent date, then sequence number: how siblings and threads are ordered.
fn by_date(a: &Sortable, b: &Sortable) -> Ordering {
    a.date().cmp(&b.date()).then(a.seq.cmp(&b.seq))
}

fn leaf(id: u32) -> Thread {
    Thread {
        messages: vec![id],
        children: Vec::new(),
    }
}

/// ORDEREDSUBJECT: one thread per base subject; its earliest message is the parent of the
/// others, in date order. Threads go by their first message's date.
fn ordered_subject(rows: &[Sortable], uid: bool) -> Vec<Thread> {
    let mut order: Vec<&Sortable> = rows.iter().collect();
    order.sort_by(|a, b| a.keys.subject.cmp(&b.keys.subject).then(by_date(a, b)));
    let mut groups: Vec<Vec<&Sortable>> = Vec::new();
    for row in order {
        match groups.last_mut() {
            Some(group) if group[0].keys.subject == row.keys.subject => group.push(row),
            _ => groups.push(vec![row]),
        }
    }
    groups.sort_by(|a, b| by_date(a[0], b[0]));
    groups
        .into_iter()
        .map(|group| Thread {
            messages: vec![group[0].id(uid)],
            children: group[1..].iter().map(|r| leaf(r.id(uid))).collect(),
        })
        .collect()
}

/// A container of the REFERENCES algorithm: a message, or a dummy standing for one that
/// is referred to but not here.
#[derive(Default)]
struct Node {
    row: Option<usize>,
    parent: Option<usize>,
    children: Vec<usize>,
}

struct Forest<'a> {
    rows: &'a [Sortable],
    nodes: Vec<Node>,
}

impl Forest<'_> {
    fn new_node(&mut self, row: Option<usize>) -> usize {
        self.nodes.push(Node {
            row,
            ..Node::default()
        });
        self.nodes.len() - 1
    }

    /// Whether `a` is `b` or below it.
    fn is_under(&self, mut a: usize, b: usize) -> bool {
        loop {
            if a == b {
                return true;
            }
            match self.nodes[a].parent {
                Some(p) => a = p,
                None => return false,
            }
        }
    }

    fn unlink(&mut self, child: usize) {
        if let Some(p) = self.nodes[child].parent.take() {
            self.nodes[p].children.retain(|&c| c != child);
        }
    }

    /// Links unless that would make a loop.
    fn link(&mut self, parent: usize, child: usize) {
        if self.is_under(parent, child) {
            return;
        }
        self.unlink(child);
        self.nodes[child].parent = Some(parent);
        self.nodes[parent].children.push(child);
    }

    /// The message a node stands for: its own, or a dummy's first child's.
    fn first_row(&self, node: usize) -> Option<&Sortable> {
        let mut n = node;
        loop {
            if let Some(r) = self.nodes[n].row {
                return Some(&self.rows[r]);
            }
            n = *self.nodes[n].children.first()?;
        }
    }

    fn compare(&self, a: usize, b: usize) -> Ordering {
        match (self.first_row(a), self.first_row(b)) {
            (Some(x), Some(y)) => by_date(x, y),
            (x, y) => x.is_some().cmp(&y.is_some()),
        }
    }

    /// Sorts every node's children by date (RFC 5256 REFERENCES step 6), bottom up so a
    /// dummy's date is its first child's.
    fn sort_below(&mut self, node: usize) {
        let children = std::mem::take(&mut self.nodes[node].children);
        for &c in &children {
            self.sort_below(c);
        }
        let mut children = children;
        children.sort_by(|&a, &b| self.compare(a, b));
        self.nodes[node].children = children;
    }

    /// Step 4: dummies without children go; a dummy's children take its place, except
    /// at the root where a dummy with several children stays (it groups a thread).
    fn prune(&mut self, list: Vec<usize>, root: bool) -> Vec<usize> {
        let mut out = Vec::new();
        for n in list {
            let children = std::mem::take(&mut self.nodes[n].children);
            let children = self.prune(children, false);
            if self.nodes[n].row.is_none() && (!root || children.len() <= 1) {
                for &c in &children {
                    self.nodes[c].parent = self.nodes[n].parent;
                }
                out.extend(children);
                continue;
            }
            for &c in &children {
                self.nodes[c].parent = Some(n);
            }
            self.nodes[n].children = children;
            out.push(n);
        }
        out
    }

    fn to_thread(&self, node: usize, uid: bool) -> Thread {
        let mut thread = Thread {
            messages: Vec::new(),
            children: Vec::new(),
        };
        let mut n = node;
        loop {
            if let Some(r) = self.nodes[n].row {
                thread.messages.push(self.rows[r].id(uid));
            }
            match self.nodes[n].children.as_slice() {
                [only] if self.nodes[*only].row.is_some() => n = *only,
                [] => break,
                many => {
                    thread.children = many.iter().map(|&c| self.to_thread(c, uid)).collect();
                    break;
                }
            }
        }
        thread
    }
}

/// Step 1 for message `i`: its container, the chain of its references, and its parent.
fn place<'a>(f: &mut Forest, by_id: &mut HashMap<&'a str, usize>, i: usize, row: &'a Sortable) {
    // 1A: the message's own container; a missing or repeated id gets a new one.
    let own = match row.keys.message_id.as_deref() {
        Some(id) => match by_id.get(id) {
            Some(&n) if f.nodes[n].row.is_none() => {
                f.nodes[n].row = Some(i);
                n
            }
            Some(_) => f.new_node(Some(i)),
            None => {
                let n = f.new_node(Some(i));
                by_id.insert(id, n);
                n
            }
        },
        None => f.new_node(Some(i)),
    };
    // Each reference is the parent of the next, unless already placed.
    let mut previous: Option<usize> = None;
    for reference in &row.keys.references {
        let n = match by_id.get(reference.as_str()) {
            Some(&n) => n,
            None => {
                let n = f.new_node(None);
                by_id.insert(reference, n);
                n
            }
        };
        if let Some(p) = previous
            && f.nodes[n].parent.is_none()
        {
            f.link(p, n);
        }
        previous = Some(n);
    }
    // 1B: the last reference (or none) is the message's parent, replacing an older guess.
    f.unlink(own);
    if let Some(p) = previous {
        f.link(p, own);
    }
}

/// REFERENCES (RFC 5256 3): threads from Message-ID, References and In-Reply-To, then the
/// roots merged by base subject.
fn references(rows: &[Sortable], uid: bool) -> Vec<Thread> {
    let mut f = Forest {
        rows,
        nodes: Vec::with_capacity(rows.len()),
    };
    let mut by_id: HashMap<&str, usize> = HashMap::new();
    for (i, row) in rows.iter().enumerate() {
        place(&mut f, &mut by_id, i, row);
    }
    // Steps 2 to 4: the roots, without needless dummies, in date order.
    let roots: Vec<usize> = (0..f.nodes.len())
        .filter(|&n| f.nodes[n].parent.is_none())
        .collect();
    let mut roots = f.prune(roots, true);
    for &r in &roots {
        f.sort_below(r);
    }
    roots.sort_by(|&a, &b| f.compare(a, b));
    let mut roots = merge_subjects(&mut f, roots);
    for &r in &roots {
        f.sort_below(r);
    }
    roots.sort_by(|&a, &b| f.compare(a, b));
    roots.iter().map(|&r| f.to_thread(r, uid)).collect()
}

/// Step 5A-B: per base subject, the root that others join: a dummy rather than a message,
/// an original rather than a reply, else the first in date order.
fn subject_table(f: &Forest, roots: &[usize]) -> HashMap<String, usize> {
    let is_dummy = |n: usize| f.nodes[n].row.is_none();
    let is_reply = |n: usize| f.nodes[n].row.is_some_and(|r| f.rows[r].keys.is_reply);
    let mut table: HashMap<String, usize> = HashMap::new();
    for &r in roots {
        let Some(s) = f
            .first_row(r)
            .map(|row| &row.keys.subject)
            .filter(|s| !s.is_empty())
        else {
            continue;
        };
        let replace = match table.get(s) {
            None => true,
            Some(&old) => {
                (is_dummy(r) && !is_dummy(old)) || (is_reply(old) && !is_dummy(r) && !is_reply(r))
            }
        };
        if replace {
            table.insert(s.clone(), r);
        }
    }
    table
}

/// Step 5: roots with the same base subject become one thread (a reply under its original,
/// or both under a new dummy).
fn merge_subjects(f: &mut Forest, roots: Vec<usize>) -> Vec<usize> {
    let subject = |f: &Forest, n: usize| f.first_row(n).map(|r| r.keys.subject.clone());
    let is_dummy = |f: &Forest, n: usize| f.nodes[n].row.is_none();
    let is_reply = |f: &Forest, n: usize| f.nodes[n].row.is_some_and(|r| f.rows[r].keys.is_reply);
    let mut table = subject_table(f, &roots);
    let mut kept: Vec<usize> = Vec::with_capacity(roots.len());
    let mut gone = vec![false; f.nodes.len()];
    for &r in &roots {
        let Some(s) = subject(f, r).filter(|s| !s.is_empty()) else {
            kept.push(r);
            continue;
        };
        let Some(&other) = table.get(&s) else {
            kept.push(r);
            continue;
        };
        if other == r {
            kept.push(r);
            continue;
        }
        if is_dummy(f, r) && is_dummy(f, other) {
            for c in std::mem::take(&mut f.nodes[r].children) {
                f.nodes[c].parent = None;
                f.link(other, c);
            }
        } else if is_dummy(f, other) || (!is_reply(f, other) && is_reply(f, r)) {
            f.link(other, r);
        } else {
            let dummy = f.new_node(None);
            gone.push(false);
            f.link(dummy, other);
            f.link(dummy, r);
            table.insert(s, dummy);
            // The dummy takes the other root's place, wherever that is in the list.
            if let Some(at) = kept.iter().position(|&k| k == other) {
                kept[at] = dummy;
            } else {
                gone[other] = true;
                kept.push(dummy);
            }
        }
        gone[r] = true;
    }
    kept.retain(|&k| !gone[k] && f.nodes[k].parent.is_none());
    kept
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::imap::sortkeys::SortKeys;

    fn msg(seq: u32, sent: i64, subject: &str, id: &str, refs: &[&str]) -> Sortable {
        let (base, is_reply) = crate::imap::sortkeys::base_subject(subject);
        Sortable {
            seq,
            uid: seq,
            arrival: 0,
            size: 0,
            modseq: 1,
            keys: SortKeys {
                sent: Some(sent),
                subject: base.to_ascii_uppercase(),
                is_reply,
                message_id: (!id.is_empty()).then(|| id.to_owned()),
                references: refs.iter().map(|r| r.to_string()).collect(),
                ..SortKeys::default()
            },
        }
    }

    fn wire(threads: &[Thread]) -> String {
        let mut out = Vec::new();
        hermod_proto::imap::Encoder::default()
            .encode(&mut out, &Response::Thread(threads.to_vec()));
        String::from_utf8(out).unwrap().trim_end().to_owned()
    }

    #[test]
    fn ordered_subject_groups_by_base_subject_then_date() {
        let rows = [
            msg(1, 10, "apples", "", &[]),
            msg(2, 5, "Re: pears", "", &[]),
            msg(3, 30, "Re: apples", "", &[]),
            msg(4, 20, "pears", "", &[]),
            msg(5, 40, "Fwd: apples", "", &[]),
            msg(6, 1, "plums", "", &[]),
        ];
        assert_eq!(
            wire(&ordered_subject(&rows, false)),
            "* THREAD (6)(2 4)(1 (3)(5))"
        );
    }

    #[test]
    fn references_follow_ids_and_merge_lost_threads_by_subject() {
        let rows = [
            msg(1, 10, "plans", "a", &[]),
            msg(2, 20, "Re: plans", "b", &["a"]),
            msg(3, 30, "Re: plans", "c", &["a", "b"]),
            msg(4, 25, "Re: plans", "d", &["a"]),
            // Its parent is missing: under a dummy, then merged by subject.
            msg(5, 15, "Re: other", "e", &["gone"]),
            msg(6, 16, "other", "f", &[]),
            // A reply whose References were lost: placed under its original by subject.
            msg(7, 50, "Re: lonely", "g", &[]),
            msg(8, 40, "lonely", "h", &[]),
            // Two unrelated messages with one subject: a dummy holds both.
            msg(9, 60, "same", "i", &[]),
            msg(10, 70, "same", "j", &[]),
            // A loop in the references is not followed: k stays below l, where it was.
            msg(11, 80, "loop", "k", &["l"]),
            msg(12, 90, "loop2", "l", &["k"]),
        ];
        assert_eq!(
            wire(&references(&rows, false)),
            "* THREAD (1 (2 3)(4))(6 5)(8 7)((9)(10))(12 11)"
        );
    }

    #[test]
    fn duplicate_and_missing_ids_are_separate_messages() {
        let rows = [
            msg(1, 1, "x", "same", &[]),
            msg(2, 2, "y", "same", &[]),
            msg(3, 3, "z", "", &[]),
        ];
        assert_eq!(wire(&references(&rows, true)), "* THREAD (1)(2)(3)");
        assert_eq!(wire(&references(&[], true)), "* THREAD");
    }
}
