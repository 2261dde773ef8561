//! Who runs this gateway, on every page: the organisation (e.g. "UBND tỉnh Bình Định"), the
//! service's name, an optional logo, and where people get help (`[branding]`). Pages are also
//! made where no state is at hand (an error turned into a page), so each request carries its
//! gateway's branding in a task-local set by [`with_branding`]; outside a request the neutral
//! defaults apply.

use std::sync::Arc;

use crate::config::BrandingSettings;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{web, HttpResponse};

/// The largest logo file served.
pub const MAX_LOGO_BYTES: usize = 256 * 1024;

/// The branding of one gateway, ready for pages: the logo read once at start.
#[derive(Debug, Clone, Default)]
pub struct Branding {
    pub settings: BrandingSettings,
    /// The logo's bytes and content type.
    pub logo: Option<(web::Bytes, &'static str)>,
}

impl Branding {
    /// Reads the logo file; an error names `branding.logo_file` and what is wrong.
    pub fn load(settings: &BrandingSettings) -> Result<Self, String> {
        let logo = match &settings.logo_file {
            None => None,
            Some(path) => {
                let kind = match path
                    .extension()
                    .and_then(|e| e.to_str())
                    .map(str::to_ascii_lowercase)
                    .as_deref()
                {
                    Some("png") => "image/png",
                    Some("svg") => "image/svg+xml",
                    Some("jpg" | "jpeg") => "image/jpeg",
                    Some("webp") => "image/webp",
                    _ => {
                        return Err(format!(
                            "branding.logo_file: {}: use a .png, .svg, .jpg or .webp file",
                            path.display()
                        ))
                    }
                };
                let bytes = std::fs::read(path)
                    .map_err(|e| format!("branding.logo_file: {}: {e}", path.display()))?;
                if bytes.len() > MAX_LOGO_BYTES {
                    return Err(format!(
                        "branding.logo_file: {}: {} bytes, more than {} KiB",
                        path.display(),
                        bytes.len(),
                        MAX_LOGO_BYTES / 1024
                    ));
                }
                Some((web::Bytes::from(bytes), kind))
            }
        };
        Ok(Self {
            settings: settings.clone(),
            logo,
        })
    }
}

tokio::task_local! {
    static CURRENT: Arc<Branding>;
}

/// The branding of the request being answered (the neutral one outside a request).
pub fn current() -> Arc<Branding> {
    CURRENT
        .try_with(Arc::clone)
        .unwrap_or_else(|_| Arc::new(Branding::default()))
}

/// Middleware: every page made while answering this request, errors included, carries this
/// gateway's branding.
pub async fn with_branding(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    match req.app_data::<web::Data<Arc<Branding>>>() {
        Some(b) => {
            let b = Arc::clone(b.get_ref());
            CURRENT.scope(b, next.call(req)).await
        }
        None => next.call(req).await,
    }
}

/// `GET /branding/logo`: the configured logo, cached for a day; 404 without one.
pub async fn logo(branding: web::Data<Arc<Branding>>) -> HttpResponse {
    match &branding.logo {
        Some((bytes, kind)) => HttpResponse::Ok()
            .content_type(*kind)
            .insert_header(("Cache-Control", "public, max-age=86400"))
            .body(bytes.clone()),
        None => super::not_found_page(),
    }
}
