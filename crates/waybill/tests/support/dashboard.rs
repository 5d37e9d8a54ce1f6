//! Signing in to the dashboard of a running `waybill serve` and asking for it with the
//! session: shared by the binary's tests (each includes this file).

/// A client that shows redirects rather than following them (the sign-in answers 303).
pub fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// Signs in to the dashboard at `base` with `key`; the cookie to send back.
pub async fn session(base: &str, key: &str) -> String {
    let r = no_redirects()
        .post(format!("{base}/dashboard/login"))
        .form(&[("key", key)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let set = r.headers()["set-cookie"].to_str().unwrap();
    set.split(';').next().unwrap().to_owned()
}

/// The status the dashboard answers at `base` for a session `cookie`.
pub async fn status(base: &str, cookie: &str) -> u16 {
    no_redirects()
        .get(format!("{base}/dashboard?fragment=1"))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}
