//! Flags between IMAP and the store (RFC 9051 §2.3.2): the five system flags the store keeps
//! as bits, keywords as names. `\Recent` is the session's, never stored (see
//! `Selected::flags_of` in the `view` module).

use imap_codec::imap_types::flag::Flag;
use pecd_store::Flags;

/// The IMAP system flags of the store's flag bits.
pub(crate) fn system_flags(flags: Flags) -> Vec<Flag<'static>> {
    let mut out = Vec::new();
    for (bit, flag) in [
        (Flags::SEEN, Flag::Seen),
        (Flags::ANSWERED, Flag::Answered),
        (Flags::FLAGGED, Flag::Flagged),
        (Flags::DELETED, Flag::Deleted),
        (Flags::DRAFT, Flag::Draft),
    ] {
        if flags.contains(bit) {
            out.push(flag);
        }
    }
    out
}

/// Splits IMAP flags into the store's system flag bits and keywords; `\Recent` and unknown
/// system flags are ignored (RFC 3501 §2.3.2: \Recent cannot be set by a client).
pub(crate) fn split_flags(flags: &[Flag<'_>]) -> (Flags, Vec<String>) {
    let mut bits = Flags::default();
    let mut keywords = Vec::new();
    for f in flags {
        match f {
            Flag::Seen => bits = bits.union(Flags::SEEN),
            Flag::Answered => bits = bits.union(Flags::ANSWERED),
            Flag::Flagged => bits = bits.union(Flags::FLAGGED),
            Flag::Deleted => bits = bits.union(Flags::DELETED),
            Flag::Draft => bits = bits.union(Flags::DRAFT),
            Flag::Keyword(k) => keywords.push(k.as_ref().to_string()),
            Flag::Extension(_) => {}
        }
    }
    (bits, keywords)
}
