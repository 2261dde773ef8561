//! The one-stop-shop account directory: the accounts the units keep in their spreadsheets,
//! imported, checked and linked to the people who log in with VNeID.
//!
//! - [`parse`]: reading an account list (CSV or JSON) into checked rows and rejections. Pure.
//! - [`import`]: sealing, hashing and upserting the accepted rows (all or nothing, dry runs).
//! - [`link`]: linking a person who has just logged in to their account, and which accounts a
//!   login may reach (staff: VNeID level 2 only).
//! - [`report`]: the readiness report per unit and the login statistics. Pure.

pub mod import;
pub mod link;
pub mod parse;
pub mod report;
