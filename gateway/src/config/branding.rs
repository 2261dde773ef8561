//! `[branding]`: who runs this gateway, shown on every page.

use std::path::PathBuf;

use serde::Deserialize;

/// `[branding]` of the configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BrandingSettings {
    /// The organisation that runs the gateway, above the service's name ("UBND tỉnh Bình Định").
    pub organisation: Option<String>,
    /// The service's name in the header.
    pub service_name: String,
    /// A PNG, SVG, JPEG or WebP file (at most 256 KiB) shown in the header, served at
    /// `/branding/logo`.
    pub logo_file: Option<PathBuf>,
    /// Where people get help, at the foot of every page.
    pub support: SupportSettings,
}

impl Default for BrandingSettings {
    fn default() -> Self {
        Self {
            organisation: None,
            service_name: "Hệ thống xác thực tập trung".into(),
            logo_file: None,
            support: SupportSettings::default(),
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SupportSettings {
    /// A telephone number people can call ("1900 1234").
    pub hotline: Option<String>,
    pub email: Option<String>,
}
