//! What the broker answers when it refuses: a Vietnamese page for the browser ([`PageError`]) or
//! an RFC 6749 error for the back channel ([`OAuthError`]).

use super::secret::RngFailure;

/// A Vietnamese error page.
#[derive(Debug, Clone)]
pub(crate) struct PageError {
    pub(crate) status: u16,
    pub(crate) title: &'static str,
    pub(crate) message: String,
    /// Where "Quay lại dịch vụ" leads: the client's redirect URI with `error=access_denied`.
    pub(crate) back: Option<String>,
}

impl PageError {
    pub(crate) fn bad_request(message: impl Into<String>) -> Self {
        Self {
            status: 400,
            title: "Yêu cầu không hợp lệ",
            message: message.into(),
            back: None,
        }
    }

    pub(crate) fn expired() -> Self {
        Self {
            status: 400,
            title: "Phiên đăng nhập đã hết hạn",
            message: "Yêu cầu đăng nhập không tồn tại hoặc đã hết hạn. Vui lòng quay lại trang \
                      dịch vụ và đăng nhập lại."
                .to_owned(),
            back: None,
        }
    }

    pub(crate) fn not_found() -> Self {
        Self {
            status: 404,
            title: "Không tìm thấy trang",
            message: "Địa chỉ này không tồn tại trên Cổng xác thực giả lập.".to_owned(),
            back: None,
        }
    }

    pub(super) fn busy() -> Self {
        Self {
            status: 503,
            title: "Hệ thống đang bận",
            message: "Có quá nhiều yêu cầu đăng nhập đang chờ. Vui lòng thử lại sau ít phút."
                .to_owned(),
            back: None,
        }
    }

    fn internal() -> Self {
        Self {
            status: 500,
            title: "Lỗi hệ thống",
            message: "Đã có lỗi xảy ra. Vui lòng thử lại sau.".to_owned(),
            back: None,
        }
    }

    pub(super) fn refused(message: &str, back: String) -> Self {
        Self {
            status: 400,
            title: "Đăng nhập không thành công",
            message: message.to_owned(),
            back: Some(back),
        }
    }
}

/// An RFC 6749 §5.2 error.
#[derive(Debug, Clone)]
pub(crate) struct OAuthError {
    pub(crate) status: u16,
    pub(crate) error: &'static str,
    pub(crate) description: String,
}

impl OAuthError {
    pub(crate) fn invalid_request(d: impl Into<String>) -> Self {
        Self {
            status: 400,
            error: "invalid_request",
            description: d.into(),
        }
    }
    pub(super) fn invalid_client(d: &str) -> Self {
        Self {
            status: 401,
            error: "invalid_client",
            description: d.to_owned(),
        }
    }
    pub(super) fn invalid_grant(d: &str) -> Self {
        Self {
            status: 400,
            error: "invalid_grant",
            description: d.to_owned(),
        }
    }
    pub(super) fn server_error() -> Self {
        Self {
            status: 500,
            error: "server_error",
            description: "internal error".to_owned(),
        }
    }
}

impl From<RngFailure> for PageError {
    fn from(_: RngFailure) -> Self {
        tracing::error!("the OS random generator failed");
        PageError::internal()
    }
}

impl From<RngFailure> for OAuthError {
    fn from(_: RngFailure) -> Self {
        tracing::error!("the OS random generator failed");
        OAuthError::server_error()
    }
}
