//! Runtime settings, layered: defaults, then `DIR/candor.toml`'s `[server]` table, then
//! `CANDOR_*` environment variables, then command-line flags. Validated once.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Serialized};
use serde::{Deserialize, Serialize};

/// Settings of a candor instance.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Settings {
    /// The instance folder (catalog, keys, SQLite file).
    #[serde(skip)]
    pub dir: PathBuf,
    /// Address to listen on.
    pub listen: String,
    /// Database URL; `None` means the SQLite file in `dir`.
    pub database_url: Option<String>,
    /// The URL people reach candor at (for control-panel links); default from `listen`.
    pub public_url: Option<String>,
    /// Lifetime of control-panel session tokens, in seconds.
    pub session_ttl_secs: u64,
    /// Seconds between two background sweeps (withdrawn and expired data goes within one).
    pub sweep_interval_secs: u64,
    /// Log filter (`tracing` env-filter syntax).
    pub log: String,
    /// Requests per minute one client address may make without an API key (0: no limit).
    pub public_requests_per_minute: u32,
    /// Requests per minute one API key may make (0: no limit).
    pub key_requests_per_minute: u32,
    /// Take the client address from the first `X-Forwarded-For` entry (only behind a
    /// proxy that sets it; otherwise anyone could pick their own address).
    pub trust_forwarded_for: bool,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            dir: PathBuf::from("."),
            listen: "127.0.0.1:8080".into(),
            database_url: None,
            public_url: None,
            session_ttl_secs: 900,
            sweep_interval_secs: 30,
            log: "info".into(),
            public_requests_per_minute: 600,
            key_requests_per_minute: 0,
            trust_forwarded_for: false,
        }
    }
}

/// Settings given on the command line (only those set override).
#[derive(Debug, Default, Serialize)]
pub struct FlagOverrides {
    /// `--listen`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listen: Option<String>,
    /// `--database-url`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database_url: Option<String>,
}

const ENV_KEYS: [&str; 9] = [
    "listen",
    "database_url",
    "public_url",
    "session_ttl_secs",
    "sweep_interval_secs",
    "log",
    "public_requests_per_minute",
    "key_requests_per_minute",
    "trust_forwarded_for",
];

impl Settings {
    /// Loads the layered settings of the instance in `dir`.
    pub fn load(dir: &Path, flags: FlagOverrides) -> anyhow::Result<Settings> {
        let mut figment = Figment::from(Serialized::defaults(Settings::default()));
        let catalog = dir.join("candor.toml");
        if catalog.exists() {
            let text = std::fs::read_to_string(&catalog)?;
            let table: toml::Table =
                toml::from_str(&text).map_err(|e| anyhow::anyhow!("{}: {}", catalog.display(), e.message()))?;
            if let Some(server) = table.get("server") {
                figment = figment.merge(Serialized::defaults(server.clone()));
            }
        }
        let figment = figment.merge(Env::prefixed("CANDOR_").only(&ENV_KEYS)).merge(Serialized::defaults(flags));
        let mut settings: Settings = figment.extract().map_err(|e| anyhow::anyhow!("configuration: {e}"))?;
        settings.dir = dir.to_path_buf();
        settings.validate()?;
        Ok(settings)
    }

    fn validate(&self) -> anyhow::Result<()> {
        self.listen
            .parse::<SocketAddr>()
            .map_err(|_| anyhow::anyhow!("listen: {:?} is not an address like 127.0.0.1:8080", self.listen))?;
        if let Some(url) = &self.database_url
            && !(url.starts_with("sqlite:") || url.starts_with("postgres://") || url.starts_with("postgresql://"))
        {
            anyhow::bail!("database_url: expected sqlite:… or postgres://…");
        }
        if !(60..=86_400).contains(&self.session_ttl_secs) {
            anyhow::bail!("session_ttl_secs: must be between 60 and 86400");
        }
        if !(1..=60).contains(&self.sweep_interval_secs) {
            anyhow::bail!("sweep_interval_secs: must be between 1 and 60 (withdrawn data must go within a minute)");
        }
        Ok(())
    }

    /// The database URL in effect.
    pub fn database_url(&self) -> String {
        match &self.database_url {
            Some(url) => url.clone(),
            None => {
                let path =
                    std::path::absolute(self.dir.join("candor.db")).unwrap_or_else(|_| self.dir.join("candor.db"));
                format!("sqlite://{}", path.display())
            }
        }
    }

    /// The public base URL, without a trailing slash.
    pub fn public_url(&self, bound: SocketAddr) -> String {
        match &self.public_url {
            Some(url) => url.trim_end_matches('/').to_string(),
            None => format!("http://{bound}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layers_apply_in_order() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("candor.toml"),
            "[server]\nlisten = \"127.0.0.1:9000\"\nsession_ttl_secs = 600\n",
        )
        .unwrap();
        let s = Settings::load(dir.path(), FlagOverrides::default()).unwrap();
        assert_eq!(s.listen, "127.0.0.1:9000");
        assert_eq!(s.session_ttl_secs, 600);
        let s = Settings::load(dir.path(), FlagOverrides { listen: Some("127.0.0.1:9001".into()), database_url: None })
            .unwrap();
        assert_eq!(s.listen, "127.0.0.1:9001");
        assert!(s.database_url().starts_with("sqlite://"));
    }

    #[test]
    fn bad_values_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let err =
            Settings::load(dir.path(), FlagOverrides { listen: Some("nope".into()), database_url: None }).unwrap_err();
        assert!(err.to_string().contains("listen"), "{err}");
        let err = Settings::load(dir.path(), FlagOverrides { listen: None, database_url: Some("mysql://x".into()) })
            .unwrap_err();
        assert!(err.to_string().contains("database_url"), "{err}");
    }
}
