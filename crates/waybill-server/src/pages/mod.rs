//! Pages for people: the home page at `/`, the customer tracking page (server-rendered HTML, a little
//! JavaScript, no framework), reached through signed links, and the operations
//! dashboard. HTML is built with maud's `html!`, which escapes every spliced value by
//! construction: no page writes markup into a string by hand.

pub mod dashboard;
pub mod home;
pub mod i18n;
pub mod links;
pub mod sessions;
pub mod track;

pub use links::{LinkError, Links};
pub use sessions::Sessions;
