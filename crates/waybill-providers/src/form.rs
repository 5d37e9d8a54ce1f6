//! Form bodies (`application/x-www-form-urlencoded`), as Kuaidi100 and KDNiao post them.
//!
//! Their signatures cover one field's value, so a field sent twice is refused rather
//! than read: which copy was signed, and which one would be parsed, is ambiguous.

/// A field that appears more than once: which copy was signed is ambiguous.
pub(crate) struct Twice;

/// The decoded fields of a form body.
pub(crate) struct Form(Vec<(String, String)>);

impl Form {
    pub(crate) fn parse(body: &[u8]) -> Self {
        Self(form_urlencoded::parse(body).into_owned().collect())
    }

    /// The field's value; `None` when it is absent, [`Twice`] when it is not alone.
    pub(crate) fn one(&self, name: &str) -> Result<Option<&str>, Twice> {
        let mut found = self
            .0
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str());
        let first = found.next();
        match found.next() {
            Some(_) => Err(Twice),
            None => Ok(first),
        }
    }
}
