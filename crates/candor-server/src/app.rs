//! `Application::build` binds the listener and starts the background work; `main` and
//! the tests both go through it.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use axum::Router;
use tokio::net::TcpListener;

use crate::consent_cache::ConsentCache;
use crate::consent_writer::ConsentWriter;
use crate::http::rate_limit::RateLimits;
use crate::instance::Instance;
use crate::key_cache::KeyCache;
use crate::notice_cache::NoticeCache;
use crate::state::{AppState, Shared};

/// A bound, ready-to-run candor server.
pub struct Application {
    listener: TcpListener,
    addr: SocketAddr,
    router: Router,
    state: AppState,
}

impl Application {
    /// Binds the configured address (port 0 picks a free one), loads the current notice
    /// and starts the background tasks.
    pub async fn build(instance: Instance) -> anyhow::Result<Application> {
        let listener = TcpListener::bind(&instance.settings.listen)
            .await
            .with_context(|| format!("binding {}", instance.settings.listen))?;
        let addr = listener.local_addr()?;
        let public_url = instance.settings.public_url(addr);
        let state = shared_state(instance, public_url).await?;
        if state.store().backend() == candor_store::Backend::Sqlite {
            tokio::spawn(checkpoint_loop(state.store().clone()));
        }
        tokio::spawn(state.notices().clone().watch(state.store().clone()));
        tokio::spawn(state.keys().clone().watch(state.store().clone()));
        tokio::spawn(state.consents().clone().watch(state.store().clone()));
        tokio::spawn(crate::sweeper::run(state.clone()));
        tokio::spawn(crate::delivery::run(state.clone()));
        tokio::spawn(state.limits().clone().prune());
        let router = crate::http::app(state.clone());
        Ok(Application { listener, addr, router, state })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The shared state (tests use it to reach the store).
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until SIGTERM or Ctrl-C, finishing requests in flight.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.run_until(shutdown_signal()).await
    }

    /// Serves until `stop` completes.
    pub async fn run_until(self, stop: impl Future<Output = ()> + Send + 'static) -> std::io::Result<()> {
        let store = self.state.store().clone();
        let service = self.router.into_make_service_with_connect_info::<SocketAddr>();
        axum::serve(self.listener, service).with_graceful_shutdown(stop).await?;
        store.close().await;
        Ok(())
    }
}

/// The state request handlers share, for a server or a one-shot command (which starts
/// no background watchers).
pub async fn shared_state(instance: Instance, public_url: String) -> anyhow::Result<AppState> {
    let outbox_key = instance.outbox_key();
    let Instance { settings, store, signer, pseudonyms, keyring } = instance;
    let notices = NoticeCache::default();
    notices.refresh(&store).await?;
    let keys = KeyCache::default();
    // Written before the first read: the cache's watcher starts at today's audit head.
    let consents = ConsentCache::new(store.audit().head().await?.map_or(0, |head| head.seq));
    let writer = ConsentWriter::start(store.clone(), signer.clone(), notices.clone(), consents.clone());
    let reader = crate::consent_reader::ConsentReader::start(store.clone(), consents.clone());
    let events = crate::event_writer::EventWriter::start(store.clone());
    let limits = Arc::new(RateLimits::new(&settings));
    Ok(AppState::new(Shared {
        store,
        signer,
        pseudonyms,
        notices,
        keys,
        consents,
        writer,
        reader,
        events,
        keyring,
        outbox_key,
        outbox_wake: Default::default(),
        settings,
        limits,
        public_url,
    }))
}

/// Keeps the SQLite WAL short without putting checkpoints on the commit path.
async fn checkpoint_loop(store: candor_store::Store) {
    loop {
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        if let Err(e) = store.checkpoint().await {
            tracing::warn!(error = %e, "WAL checkpoint failed");
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = terminate => {} }
    tracing::info!("shutting down");
}
