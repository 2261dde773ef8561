//! Domain types of vneid-gateway. Nothing here does I/O.
//!
//! - [`PersonalId`]: the 12-digit personal ID number (số định danh cá nhân, Circular
//!   59/2021/TT-BCA), validated, masked whenever it is displayed.
//! - [`AssuranceLevel`]: VNeID level 1 or level 2, and its `acr` form.
//! - [`UpstreamIdentity`]: what the national login broker said about a person, before policy.
//! - [`AccountType`]: a citizen's account or an organisation's, and [`OrganisationFacts`].
//! - [`username_key`]: how one-stop-shop usernames compare (case-insensitively).

mod account;
mod clock;
mod level;
mod personal_id;
mod upstream;
mod username;

pub use account::{AccountType, OrganisationFacts};
pub use clock::{Clock, FixedClock, SystemClock};
pub use level::{AssuranceLevel, LevelError};
pub use personal_id::{mask, province_name, PersonalId, PersonalIdError, Sex, PROVINCE_CODES};
pub use upstream::{Claim, UpstreamIdentity};
pub use username::username_key;

pub mod vietnam;
