//! Reading the configuration: the file named on the command line, else `config/pecd.toml`
//! when present, else the embedded defaults; parsed, then validated.

use std::path::{Path, PathBuf};

use super::{Config, ConfigError, Source, DEFAULT_CONFIG_PATH};

impl Config {
    /// Loads `path`, or without one `config/pecd.toml` when present, else the defaults.
    pub fn load(path: Option<&Path>) -> Result<(Config, Source), ConfigError> {
        let path = match path {
            Some(p) => p.to_path_buf(),
            None => {
                let default = PathBuf::from(DEFAULT_CONFIG_PATH);
                if !default.exists() {
                    let config = Config::default();
                    config.validate("embedded defaults")?;
                    return Ok((config, Source::Embedded));
                }
                default
            }
        };
        let file = path.display().to_string();
        let text = std::fs::read_to_string(&path).map_err(|e| ConfigError {
            file: file.clone(),
            key: "(file)".into(),
            message: format!("cannot read: {e}"),
        })?;
        let config = Config::parse(&text, &file)?;
        Ok((config, Source::File(path)))
    }

    /// Parses and validates TOML text; `file` is only used in error messages.
    pub fn parse(text: &str, file: &str) -> Result<Config, ConfigError> {
        let deserializer = toml::Deserializer::new(text);
        let config: Config = serde_path_to_error::deserialize(deserializer).map_err(|e| {
            let key = e.path().to_string();
            let inner = e.into_inner();
            ConfigError {
                file: file.to_string(),
                key: if key == "." {
                    "(top level)".into()
                } else {
                    key
                },
                message: inner.message().trim().to_string(),
            }
        })?;
        config.validate(file)?;
        Ok(config)
    }
}
