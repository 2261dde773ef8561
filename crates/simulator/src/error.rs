use std::path::PathBuf;

/// Why the simulator could not be built or its people file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum SimulatorError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A people file is malformed; `origin` is the file (or `embedded people.toml`) and the
    /// message names the line and the field.
    #[error("{origin}: {message}")]
    People { origin: String, message: String },
    /// The simulator configuration is unusable; the message names the key.
    #[error("simulator configuration: {0}")]
    Config(String),
    #[error("cannot generate the RSA signing key: {0}")]
    Key(String),
}
