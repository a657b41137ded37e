//! Folder management (RFC 9051 §6.3.4–8): CREATE (superiors too, §6.3.4), DELETE, RENAME,
//! SUBSCRIBE and UNSUBSCRIBE. INBOX and the special-use folders (RFC 6154) cannot be deleted
//! or renamed; failures carry RFC 5530 codes.

use imap_codec::imap_types::mailbox::Mailbox as ImapMailbox;
use pecd_store::StoreError;
use tokio::io::{AsyncRead, AsyncWrite};

use crate::error::{bad, no, store_refusal, Outcome};
use crate::session::{is_inbox, Session};

impl<S: AsyncRead + AsyncWrite + Unpin> Session<'_, S> {
    pub(crate) async fn create(&mut self, mailbox: &ImapMailbox<'_>) -> Outcome {
        let name = self.name_of(mailbox);
        if name.is_empty() {
            return Err(bad("Empty mailbox name"));
        }
        if is_inbox(&name) {
            return Err(no(Some("ALREADYEXISTS"), "INBOX always exists"));
        }
        let id = self.mailbox_id();
        // RFC 3501 §6.3.3: create the missing superiors too.
        let parts: Vec<&str> = name.split('/').collect();
        if parts.iter().any(|p| p.is_empty()) {
            return Err(bad("Empty hierarchy level in mailbox name"));
        }
        for i in 1..parts.len() {
            let parent = parts[..i].join("/");
            match self.ctx.store.folder(id, &parent).await {
                Ok(Some(_)) => {}
                Ok(None) => match self.ctx.store.create_folder(id, &parent, None).await {
                    Ok(_) | Err(StoreError::Exists(_)) => {}
                    Err(e) => return Err(store_refusal(e)),
                },
                Err(e) => return Err(store_refusal(e)),
            }
        }
        match self.ctx.store.create_folder(id, &name, None).await {
            Ok(_) => Ok("CREATE completed".into()),
            Err(e) => Err(store_refusal(e)),
        }
    }

    pub(crate) async fn delete(&mut self, mailbox: &ImapMailbox<'_>) -> Outcome {
        let name = self.name_of(mailbox);
        let folder = self.folder_named(&name).await?;
        if folder.role.is_some() {
            return Err(no(
                Some("CANNOT"),
                format!("{name} is a system folder and cannot be deleted"),
            ));
        }
        let prefix = format!("{name}/");
        let folders = self
            .ctx
            .store
            .folders(self.mailbox_id())
            .await
            .map_err(store_refusal)?;
        if folders.iter().any(|f| f.name.starts_with(&prefix)) {
            return Err(no(Some("INUSE"), "Mailbox has children; delete them first"));
        }
        if self
            .selected
            .as_ref()
            .is_some_and(|s| s.folder.id == folder.id)
        {
            self.selected = None;
        }
        match self
            .ctx
            .store
            .delete_folder(self.mailbox_id(), folder.id)
            .await
        {
            Ok(_) => {
                self.ctx.forget_folder(folder.id);
                Ok("DELETE completed".into())
            }
            Err(e) => Err(store_refusal(e)),
        }
    }

    pub(crate) async fn rename(&mut self, from: &ImapMailbox<'_>, to: &ImapMailbox<'_>) -> Outcome {
        let (from, to) = (self.name_of(from), self.name_of(to));
        let folder = self.folder_named(&from).await?;
        if folder.role.is_some() {
            return Err(no(
                Some("CANNOT"),
                format!("{from} is a system folder and cannot be renamed"),
            ));
        }
        if to.is_empty() || to.split('/').any(|p| p.is_empty()) {
            return Err(bad("Invalid new mailbox name"));
        }
        if is_inbox(&to) {
            return Err(no(Some("ALREADYEXISTS"), "INBOX always exists"));
        }
        match self
            .ctx
            .store
            .rename_folder(self.mailbox_id(), folder.id, &to)
            .await
        {
            Ok(_) => Ok("RENAME completed".into()),
            Err(e) => Err(store_refusal(e)),
        }
    }

    /// SUBSCRIBE (`on`) and UNSUBSCRIBE.
    pub(crate) async fn subscribe(&mut self, mailbox: &ImapMailbox<'_>, on: bool) -> Outcome {
        let name = self.name_of(mailbox);
        let folder = self.folder_named(&name).await?;
        match self
            .ctx
            .store
            .set_subscribed(self.mailbox_id(), folder.id, on)
            .await
        {
            Ok(_) if on => Ok("SUBSCRIBE completed".into()),
            Ok(_) => Ok("UNSUBSCRIBE completed".into()),
            Err(e) => Err(store_refusal(e)),
        }
    }
}
