//! The old provider's folders mapped to ours (PROVISIONING.md §9 "every folder"): INBOX to
//! INBOX; a folder with a special-use attribute (RFC 6154 `\Sent \Drafts \Trash \Junk
//! \Archive`, or XLIST's) to our folder of that use, whatever either is called; without
//! attributes, the usual Italian and English names of those folders; every other folder to
//! its own name decoded from modified UTF-7, the server's hierarchy delimiter replaced by
//! ours (`/`). The old provider's archive folder (`[migration] archive_folder`) is marked
//! so the import can keep it for the pass after cutover. Folders that cannot be selected
//! (`\Noselect`, `\NonExistent`) hold no messages and are left out; their children are not.

use pecd_store::{Folder, SpecialUse};

use crate::imap::{utf7, ListEntry};

/// Our hierarchy delimiter (crates/imap `list::DELIMITER`).
pub const DELIMITER: char = '/';

/// One old folder and where its messages go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FolderPlan {
    /// The name as the old server knows it (to EXAMINE it).
    pub source: Vec<u8>,
    /// The same in UTF-8, the old delimiter kept: what the holder recognises, and the key
    /// of its progress.
    pub name: String,
    /// Our folder.
    pub target: String,
    /// Our folder's special use, when the target is one of those.
    pub role: Option<SpecialUse>,
    /// The old provider's archive folder, imported only after cutover.
    pub archive: bool,
}

const ROLES: [(&str, SpecialUse); 5] = [
    ("\\sent", SpecialUse::Sent),
    ("\\drafts", SpecialUse::Drafts),
    ("\\trash", SpecialUse::Trash),
    ("\\junk", SpecialUse::Junk),
    ("\\archive", SpecialUse::Archive),
];

/// Names servers without special-use give those folders (lower case, whole name).
const USUAL_NAMES: [(&str, SpecialUse); 11] = [
    ("sent", SpecialUse::Sent),
    ("posta inviata", SpecialUse::Sent),
    ("inviata", SpecialUse::Sent),
    ("sent items", SpecialUse::Sent),
    ("drafts", SpecialUse::Drafts),
    ("bozze", SpecialUse::Drafts),
    ("trash", SpecialUse::Trash),
    ("cestino", SpecialUse::Trash),
    ("junk", SpecialUse::Junk),
    ("spam", SpecialUse::Junk),
    ("posta indesiderata", SpecialUse::Junk),
];

/// The plan for `listed` (the old server's LIST) given our folders `ours`; names that are
/// neither modified UTF-7 nor UTF-8 are returned apart, as errors to report.
pub fn plan(
    listed: &[ListEntry],
    ours: &[Folder],
    archive_folder: &str,
) -> (Vec<FolderPlan>, Vec<String>) {
    let mut plans: Vec<FolderPlan> = Vec::new();
    let mut errors = Vec::new();
    for entry in listed {
        let attrs = &entry.attributes;
        if attrs
            .iter()
            .any(|a| a == "\\noselect" || a == "\\nonexistent")
        {
            continue;
        }
        let Some(name) = utf7::decode(&entry.name) else {
            errors.push(format!(
                "cartella {:?} ignorata: nome illeggibile",
                String::from_utf8_lossy(&entry.name)
            ));
            continue;
        };
        let parts = split(&name, entry.delimiter);
        let archive = name.eq_ignore_ascii_case(archive_folder);
        let role = if archive {
            None
        } else if parts.len() == 1 && parts[0].eq_ignore_ascii_case("INBOX") {
            Some(SpecialUse::Inbox)
        } else {
            role_of(attrs).or_else(|| usual_role(&name))
        };
        // A second folder of the same use (two \Sent) keeps its own name.
        let role = role.filter(|r| !plans.iter().any(|p| p.role == Some(*r)));
        let target = match role.and_then(|r| ours.iter().find(|f| f.role == Some(r))) {
            Some(f) => f.name.clone(),
            None => own_name(&parts),
        };
        plans.push(FolderPlan {
            source: entry.name.clone(),
            name,
            target,
            role,
            archive,
        });
    }
    (plans, errors)
}

fn role_of(attributes: &[String]) -> Option<SpecialUse> {
    ROLES
        .iter()
        .find(|(a, _)| attributes.iter().any(|x| x == a))
        .map(|(_, r)| *r)
}

fn usual_role(name: &str) -> Option<SpecialUse> {
    let lower = name.to_lowercase();
    let last = lower.rsplit(['/', '.']).next().unwrap_or(&lower);
    USUAL_NAMES
        .iter()
        .find(|(n, _)| *n == lower || (lower.starts_with("inbox") && *n == last))
        .map(|(_, r)| *r)
}

/// The levels of a name; INBOX's children (`INBOX.Foo`) keep INBOX as their parent.
fn split(name: &str, delimiter: Option<char>) -> Vec<String> {
    match delimiter {
        Some(d) => name.split(d).map(str::to_string).collect(),
        None => vec![name.to_string()],
    }
}

/// Our name for a folder of no special use: its levels joined by our delimiter, a `/`
/// inside a level (possible where the old delimiter was another) made `_`, empty levels
/// dropped, INBOX spelled as ours.
fn own_name(parts: &[String]) -> String {
    let levels: Vec<String> = parts
        .iter()
        .filter(|p| !p.is_empty())
        .enumerate()
        .map(|(i, p)| {
            if i == 0 && p.eq_ignore_ascii_case("INBOX") {
                "INBOX".to_string()
            } else {
                p.replace(DELIMITER, "_")
            }
        })
        .collect();
    if levels.is_empty() {
        "Senza nome".to_string()
    } else {
        levels.join(&DELIMITER.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(attrs: &[&str], delimiter: char, name: &str) -> ListEntry {
        ListEntry {
            attributes: attrs.iter().map(|a| a.to_string()).collect(),
            delimiter: Some(delimiter),
            name: name.as_bytes().to_vec(),
        }
    }

    fn ours() -> Vec<Folder> {
        pecd_store::DEFAULT_FOLDERS
            .iter()
            .enumerate()
            .map(|(i, (name, role))| Folder {
                id: i as u64 + 1,
                mailbox_id: 1,
                name: name.to_string(),
                uidvalidity: 1,
                uidnext: 1,
                highestmodseq: 0,
                subscribed: true,
                role: Some(*role),
                message_count: 0,
                size_bytes: 0,
            })
            .collect()
    }

    fn targets(listed: &[ListEntry]) -> Vec<(String, String, bool)> {
        plan(listed, &ours(), "Archivio")
            .0
            .into_iter()
            .map(|p| (p.name, p.target, p.archive))
            .collect()
    }

    #[test]
    fn special_use_by_attribute_whatever_the_names() {
        let listed = [
            entry(&[], '.', "INBOX"),
            entry(&["\\hasnochildren", "\\sent"], '.', "Posta inviata"),
            entry(&["\\trash"], '.', "Elementi eliminati"),
            entry(&["\\junk"], '.', "INBOX.Spam"),
        ];
        assert_eq!(
            targets(&listed),
            vec![
                ("INBOX".into(), "INBOX".into(), false),
                ("Posta inviata".into(), "Sent".into(), false),
                ("Elementi eliminati".into(), "Trash".into(), false),
                ("INBOX.Spam".into(), "Junk".into(), false),
            ]
        );
    }

    #[test]
    fn others_keep_their_names_with_our_delimiter_decoded_from_utf7() {
        let listed = [
            entry(&[], '.', "Clienti.Perch&AOk-"),
            entry(&["\\noselect"], '.', "Vuota"),
            entry(&[], '.', "INBOX.Pratiche"),
            entry(&[], '.', "a/b"),
            entry(&[], '/', "Bozze"),
            entry(&[], '/', "Archivio"),
        ];
        assert_eq!(
            targets(&listed),
            vec![
                ("Clienti.Perché".into(), "Clienti/Perché".into(), false),
                ("INBOX.Pratiche".into(), "INBOX/Pratiche".into(), false),
                ("a/b".into(), "a_b".into(), false),
                ("Bozze".into(), "Drafts".into(), false),
                ("Archivio".into(), "Archivio".into(), true),
            ]
        );
    }

    #[test]
    fn a_second_folder_of_one_use_keeps_its_name() {
        let listed = [
            entry(&["\\sent"], '/', "Sent"),
            entry(&["\\sent"], '/', "Sent Messages"),
        ];
        assert_eq!(
            targets(&listed),
            vec![
                ("Sent".into(), "Sent".into(), false),
                ("Sent Messages".into(), "Sent Messages".into(), false),
            ]
        );
    }
}
