//! What every request handler shares.

use std::sync::Arc;

use candor_privacy::{Pseudonymizer, ReceiptSigner};
use candor_store::Store;

use crate::config::Settings;
use crate::consent_writer::ConsentWriter;
use crate::error::ApiError;
use crate::notice_cache::{CurrentNotice, NoticeCache};

/// Shared application state (cheap to clone).
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    signer: ReceiptSigner,
    pseudonyms: Pseudonymizer,
    notices: NoticeCache,
    writer: ConsentWriter,
    settings: Settings,
    public_url: String,
}

impl AppState {
    /// Assembles the state.
    pub fn new(
        store: Store,
        signer: ReceiptSigner,
        pseudonyms: Pseudonymizer,
        notices: NoticeCache,
        writer: ConsentWriter,
        settings: Settings,
        public_url: String,
    ) -> AppState {
        AppState { inner: Arc::new(Inner { store, signer, pseudonyms, notices, writer, settings, public_url }) }
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    /// The signing key.
    pub fn signer(&self) -> &ReceiptSigner {
        &self.inner.signer
    }

    /// The pseudonymizer.
    pub fn pseudonyms(&self) -> &Pseudonymizer {
        &self.inner.pseudonyms
    }

    /// The notice cache.
    pub fn notices(&self) -> &NoticeCache {
        &self.inner.notices
    }

    /// The current notice (there always is one once the instance is initialised).
    pub fn notice(&self) -> Result<Arc<CurrentNotice>, ApiError> {
        self.inner.notices.get().ok_or_else(|| ApiError::unavailable("no notice version is published yet"))
    }

    /// The consent group-commit writer.
    pub fn writer(&self) -> &ConsentWriter {
        &self.inner.writer
    }

    /// Settings.
    pub fn settings(&self) -> &Settings {
        &self.inner.settings
    }

    /// The public base URL (no trailing slash).
    pub fn public_url(&self) -> &str {
        &self.inner.public_url
    }
}
