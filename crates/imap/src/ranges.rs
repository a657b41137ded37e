//! Sequence sets and UID sets (RFC 9051 §9 `sequence-set`; the `uid-set` of UIDPLUS,
//! RFC 4315 §4): the index spans a set names, bounds on its size, and the compact `1:3,7`
//! form that COPYUID, MODIFIED, VANISHED (RFC 7162 §3.2.10) and ESEARCH ALL are written in.

use imap_codec::imap_types::sequence::SequenceSet;
use pecd_store::{MessageMeta, Uid};

use crate::error::{bad, Refusal};

/// Most ranges a command's sequence sets may have in all. Real clients stay far below (a
/// 64 KiB command line holds at most about 16,000); each range costs a comparison per
/// message in SEARCH.
pub(crate) const MAX_SEQUENCE_RANGES: usize = 4096;

/// The indexes of half-open spans, ascending and each once.
pub(crate) fn merged(mut spans: Vec<(usize, usize)>) -> Vec<usize> {
    spans.sort_unstable();
    let mut out = Vec::new();
    let mut covered = 0;
    for (first, end) in spans {
        let first = first.max(covered);
        if first < end {
            out.extend(first..end);
            covered = end;
        }
    }
    out
}

pub(crate) fn check_ranges(ranges: usize) -> Result<(), Refusal> {
    if ranges > MAX_SEQUENCE_RANGES {
        return Err(bad(format!(
            "Sequence set with more than {MAX_SEQUENCE_RANGES} ranges"
        )));
    }
    Ok(())
}

/// Renders a set of numbers in the compact `1:3,7` form.
pub(crate) fn compact(numbers: &[u32]) -> String {
    let mut sorted = numbers.to_vec();
    sorted.sort_unstable();
    render_ranges(&merge_ranges(sorted.into_iter().map(|n| (n, n))))
}

/// Inclusive ranges, sorted by start, merged where they touch or overlap.
pub(crate) fn merge_ranges(sorted: impl IntoIterator<Item = (u32, u32)>) -> Vec<(u32, u32)> {
    let mut out: Vec<(u32, u32)> = Vec::new();
    for (lo, hi) in sorted {
        match out.last_mut() {
            Some(last) if u64::from(lo) <= u64::from(last.1) + 1 => last.1 = last.1.max(hi),
            _ => out.push((lo, hi)),
        }
    }
    out
}

/// Renders inclusive ranges in the `1:3,7` form.
pub(crate) fn render_ranges(ranges: &[(u32, u32)]) -> String {
    let mut out = String::new();
    for &(lo, hi) in ranges {
        if !out.is_empty() {
            out.push(',');
        }
        if lo == hi {
            out.push_str(&lo.to_string());
        } else {
            out.push_str(&format!("{lo}:{hi}"));
        }
    }
    out
}

/// A UID set as sorted, merged ranges, `*` standing for `star`.
pub(crate) fn set_ranges(set: &SequenceSet, star: u32) -> Vec<(u32, u32)> {
    use imap_codec::imap_types::sequence::{SeqOrUid, Sequence};
    let value = |v: &SeqOrUid| match v {
        SeqOrUid::Value(v) => v.get(),
        SeqOrUid::Asterisk => star,
    };
    let mut ranges: Vec<(u32, u32)> = set
        .0
        .as_ref()
        .iter()
        .map(|s| match s {
            Sequence::Single(v) => (value(v), value(v)),
            Sequence::Range(a, b) => (value(a).min(value(b)), value(a).max(value(b))),
        })
        .collect();
    ranges.sort_unstable();
    merge_ranges(ranges)
}

/// The UIDs from 1 to `star` that are none of `messages` (ascending by UID), as ranges.
pub(crate) fn absent_ranges(messages: &[MessageMeta], star: Uid) -> Vec<(Uid, Uid)> {
    let mut out = Vec::new();
    let mut next = 1u32;
    for m in messages {
        if m.uid > star {
            break;
        }
        if m.uid > next {
            out.push((next, m.uid - 1));
        }
        next = m.uid.saturating_add(1);
    }
    if next <= star {
        out.push((next, star));
    }
    out
}

/// The parts of `a` that are also in `b` (both sorted and disjoint), in one pass.
pub(crate) fn intersect_ranges(a: &[(u32, u32)], b: &[(u32, u32)]) -> Vec<(u32, u32)> {
    let (mut i, mut j) = (0, 0);
    let mut out = Vec::new();
    while i < a.len() && j < b.len() {
        let lo = a[i].0.max(b[j].0);
        let hi = a[i].1.min(b[j].1);
        if lo <= hi {
            out.push((lo, hi));
        }
        if a[i].1 < b[j].1 {
            i += 1;
        } else {
            j += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_and_overlapping_spans_count_once() {
        assert_eq!(merged(vec![(0, 3), (0, 3), (0, 3)]), vec![0, 1, 2]);
        assert_eq!(
            merged(vec![(5, 7), (0, 2), (1, 6), (9, 10)]),
            vec![0, 1, 2, 3, 4, 5, 6, 9]
        );
        assert_eq!(merged(vec![(4, 4), (2, 1)]), Vec::<usize>::new());
        let many = vec![(0, 100_000); 4096];
        assert_eq!(merged(many).len(), 100_000);
    }

    #[test]
    fn compact_sets() {
        assert_eq!(compact(&[1, 2, 3, 7, 9, 10]), "1:3,7,9:10");
        assert_eq!(compact(&[5]), "5");
        assert_eq!(compact(&[3, 1, 2, 2]), "1:3");
        assert_eq!(compact(&[]), "");
    }
}
