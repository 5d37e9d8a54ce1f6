//! The one table of carrier identities: each provider's carrier code mapped to Waybill's
//! carrier slug. Waybill's slugs follow AfterShip's where AfterShip has the carrier,
//! since many merchants already use them.
//!
//! A code not in the table still makes a slug: lowercased, every run of other characters
//! turned into `-` (`DHLExpress` → `dhlexpress`, `dhl_express` → `dhl-express`). So a
//! new carrier works on day one, under a name that a row added later can correct.
//! The table is printed in `docs/providers.md`, and a test holds the two together.

use waybill_core::Carrier;

use crate::Provider;

/// One carrier and its codes at each provider; an empty string or `0`: not known there.
#[derive(Debug, Clone, Copy)]
pub struct CarrierRow {
    pub slug: &'static str,
    pub name: &'static str,
    pub aftership: &'static str,
    pub easypost: &'static str,
    pub shippo: &'static str,
    /// 17TRACK's numeric carrier keys.
    pub seventeen_track: &'static [u32],
    pub kuaidi100: &'static str,
    pub kdniao: &'static str,
}

#[allow(clippy::too_many_arguments)] // one table row, read positionally
const fn row(
    slug: &'static str,
    name: &'static str,
    aftership: &'static str,
    easypost: &'static str,
    shippo: &'static str,
    seventeen_track: &'static [u32],
    kuaidi100: &'static str,
    kdniao: &'static str,
) -> CarrierRow {
    CarrierRow {
        slug,
        name,
        aftership,
        easypost,
        shippo,
        seventeen_track,
        kuaidi100,
        kdniao,
    }
}

#[rustfmt::skip]
pub const CARRIERS: &[CarrierRow] = &[
    //   slug            name                    aftership       easypost       shippo          17track        kuaidi100          kdniao
    row("sf-express",   "SF Express 顺丰速运",   "sf-express",   "",            "",             &[100012, 190766], "shunfeng",        "SF"),
    row("zto-express",  "ZTO Express 中通快递",  "zto-express",  "",            "",             &[190455],     "zhongtong",       "ZTO"),
    row("yto",          "YTO Express 圆通速递",  "yto",          "",            "",             &[190157],     "yuantong",        "YTO"),
    row("sto",          "STO Express 申通快递",  "sto",          "",            "",             &[190324],     "shentong",        "STO"),
    row("yunda",        "Yunda Express 韵达快递", "yunda",       "",            "",             &[],           "yunda",           "YD"),
    row("jd",           "JD Logistics 京东物流", "jd",           "",            "",             &[],           "jd",              "JD"),
    row("china-ems",    "China EMS 中国邮政EMS", "china-ems",    "",            "",             &[3013],       "ems",             "EMS"),
    row("china-post",   "China Post 中国邮政",   "china-post",   "",            "",             &[3011],       "youzhengguonei",  "YZPY"),
    row("deppon",       "Deppon 德邦快递",       "deppon",       "",            "",             &[190174],     "debangkuaidi",    "DBL"),
    row("jtexpress-cn", "J&T Express China 极兔速递", "jtexpress-cn", "",       "",             &[190442],     "jtexpress",       "JTSD"),
    row("cainiao",      "Cainiao 菜鸟",          "cainiao",      "",            "",             &[190271],     "cainiao",         "CNSD"),
    row("ups",          "UPS",                   "ups",          "UPS",         "ups",          &[100002],     "ups",             "UPS"),
    row("fedex",        "FedEx",                 "fedex",        "FedEx",       "fedex",        &[100003],     "fedex",           "FEDEX"),
    row("usps",         "USPS",                  "usps",         "USPS",        "usps",         &[21051],      "usps",            "USPS"),
    row("dhl",          "DHL Express",           "dhl",          "DHLExpress",  "dhl_express",  &[100001],     "dhl",             "DHL"),
    row("dhl-ecommerce", "DHL eCommerce",        "dhl-global-mail", "DHLEcommerceSolutions", "dhl_ecommerce", &[7047],       "",          ""),
    row("canada-post",  "Canada Post",           "canada-post",  "CanadaPost",  "canada_post",  &[3041],       "canpost",         ""),
    row("royal-mail",   "Royal Mail",            "royal-mail",   "RoyalMail",   "royal_mail",   &[11031],      "royalmail",       ""),
    row("australia-post", "Australia Post",      "australia-post", "AustraliaPost", "australia_post", &[1151],       "auspost",        ""),
    row("ontrac",       "OnTrac",                "ontrac",       "OnTrac",      "ontrac",       &[100049],     "",                ""),
    row("lasership",    "LaserShip",             "lasership",    "LaserShip",   "lasership",    &[100052],     "",                ""),
];

/// A carrier's name for people, from the table: in Chinese when the table has one and
/// `chinese` is asked for, else in English (`sf-express` → 顺丰速运 / SF Express). `None`
/// for a slug the table does not know: show the slug.
pub fn name(slug: &str, chinese: bool) -> Option<&'static str> {
    let row = CARRIERS.iter().find(|r| r.slug == slug)?;
    // A row's name is the English name, then the Chinese one if there is one.
    let (english, local) = match row.name.find(|c: char| !c.is_ascii()) {
        Some(at) => (row.name[..at].trim_end(), Some(&row.name[at..])),
        None => (row.name, None),
    };
    Some(match local {
        Some(zh) if chinese => zh,
        _ => english,
    })
}

/// How a provider names a carrier.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CarrierCode<'a> {
    Text(&'a str),
    /// 17TRACK's numeric keys.
    Number(u32),
}

/// Waybill's slug for a provider's carrier code.
pub fn slug(provider: Provider, code: CarrierCode<'_>) -> Result<Carrier, String> {
    let found = CARRIERS.iter().find(|r| match (provider, code) {
        (Provider::SeventeenTrack, CarrierCode::Number(n)) => r.seventeen_track.contains(&n),
        (_, CarrierCode::Number(_)) => false,
        (p, CarrierCode::Text(t)) => {
            let own = match p {
                Provider::AfterShip => r.aftership,
                Provider::EasyPost => r.easypost,
                Provider::Shippo => r.shippo,
                Provider::SeventeenTrack => "",
                Provider::Kuaidi100 => r.kuaidi100,
                Provider::Kdniao => r.kdniao,
            };
            !own.is_empty() && own.eq_ignore_ascii_case(t.trim())
        }
    });
    if let Some(r) = found {
        return Ok(Carrier::parse(r.slug).expect("table slugs are slugs"));
    }
    let fallback = match code {
        CarrierCode::Text(t) => normalize(t),
        CarrierCode::Number(n) => format!("17track-{n}"),
    };
    Carrier::parse(&fallback).map_err(|_| format!("carrier code {code:?} makes no carrier slug"))
}

/// Waybill's slug for a carrier slug a merchant sent: a carrier in the table named by
/// any of its codes (`zto`, `zhongtong`, `shunfeng`, `sf`, `ems`… in any case) gets the
/// table's slug, so a merchant's registration and a provider's push meet on one parcel.
/// Any other slug is kept as it is.
pub fn canonical(carrier: Carrier) -> Carrier {
    let c = carrier.as_str();
    if CARRIERS.iter().any(|r| r.slug == c) {
        return carrier;
    }
    let known = CARRIERS.iter().find(|r| {
        [r.aftership, r.easypost, r.shippo, r.kuaidi100, r.kdniao]
            .iter()
            .any(|code| !code.is_empty() && code.eq_ignore_ascii_case(c))
    });
    match known {
        Some(r) => Carrier::parse(r.slug).expect("table slugs are slugs"),
        None => carrier,
    }
}

/// Lowercase ASCII letters and digits, every other run turned into one `-`.
fn normalize(code: &str) -> String {
    let mut out = String::with_capacity(code.len());
    for c in code.trim().chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    while out.ends_with('-') {
        out.pop();
    }
    out.truncate(Carrier::MAX_LEN);
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn carriers_have_names_for_people_in_both_languages() {
        assert_eq!(name("sf-express", true), Some("顺丰速运"));
        assert_eq!(name("sf-express", false), Some("SF Express"));
        assert_eq!(name("jtexpress-cn", false), Some("J&T Express China"));
        assert_eq!(name("ups", true), Some("UPS"));
        assert_eq!(name("no-such-carrier", false), None);
        for r in CARRIERS {
            let (en, zh) = (name(r.slug, false).unwrap(), name(r.slug, true).unwrap());
            assert!(!en.is_empty() && en.is_ascii(), "{}", r.slug);
            assert!(!zh.is_empty(), "{}", r.slug);
        }
    }

    use super::*;

    fn s(p: Provider, code: &str) -> String {
        slug(p, CarrierCode::Text(code)).unwrap().to_string()
    }

    #[test]
    fn each_providers_code_finds_the_same_carrier() {
        assert_eq!(s(Provider::Kuaidi100, "shunfeng"), "sf-express");
        assert_eq!(s(Provider::Kdniao, "SF"), "sf-express");
        assert_eq!(s(Provider::AfterShip, "sf-express"), "sf-express");
        assert_eq!(s(Provider::EasyPost, "USPS"), "usps");
        assert_eq!(s(Provider::Shippo, "dhl_express"), "dhl");
        assert_eq!(
            slug(Provider::SeventeenTrack, CarrierCode::Number(100003))
                .unwrap()
                .as_str(),
            "fedex"
        );
    }

    #[test]
    fn unknown_codes_still_make_slugs() {
        assert_eq!(s(Provider::EasyPost, "Purolator Inc."), "purolator-inc");
        assert_eq!(s(Provider::Shippo, "new_carrier"), "new-carrier");
        assert_eq!(
            slug(Provider::SeventeenTrack, CarrierCode::Number(7))
                .unwrap()
                .as_str(),
            "17track-7"
        );
        assert!(slug(Provider::Kuaidi100, CarrierCode::Text("顺丰")).is_err());
        assert!(slug(Provider::Kuaidi100, CarrierCode::Text("")).is_err());
    }

    #[test]
    fn merchants_aliases_become_the_tables_slugs() {
        let c = |s: &str| canonical(Carrier::parse(s).unwrap()).to_string();
        assert_eq!(c("zto"), "zto-express");
        assert_eq!(c("zhongtong"), "zto-express");
        assert_eq!(c("shunfeng"), "sf-express");
        assert_eq!(c("sf"), "sf-express");
        assert_eq!(c("ems"), "china-ems");
        assert_eq!(c("dhlexpress"), "dhl");
        assert_eq!(c("sf-express"), "sf-express");
        assert_eq!(c("jd"), "jd");
        assert_eq!(c("some-local-courier"), "some-local-courier");
        // A row's slug is never another row's code.
        for r in CARRIERS {
            assert_eq!(c(r.slug), r.slug);
        }
    }

    #[test]
    fn the_table_is_consistent() {
        for (i, r) in CARRIERS.iter().enumerate() {
            assert!(Carrier::parse(r.slug).is_ok(), "{}", r.slug);
            for other in &CARRIERS[..i] {
                assert_ne!(r.slug, other.slug);
                for (a, b) in [
                    (r.aftership, other.aftership),
                    (r.easypost, other.easypost),
                    (r.shippo, other.shippo),
                    (r.kuaidi100, other.kuaidi100),
                    (r.kdniao, other.kdniao),
                ] {
                    assert!(a.is_empty() || a != b, "{a} is in two rows");
                }
                assert!(
                    r.seventeen_track
                        .iter()
                        .all(|k| !other.seventeen_track.contains(k))
                );
            }
        }
    }

    #[test]
    fn the_table_is_documented() {
        let doc = include_str!("../../../docs/providers.md");
        for r in CARRIERS {
            let line = doc
                .lines()
                .find(|l| l.starts_with(&format!("| `{}` |", r.slug)))
                .unwrap_or_else(|| panic!("{} is not in docs/providers.md", r.slug));
            for code in [r.aftership, r.easypost, r.shippo, r.kuaidi100, r.kdniao] {
                if !code.is_empty() {
                    assert!(
                        line.contains(&format!("`{code}`")),
                        "{code} missing in {line}"
                    );
                }
            }
            for k in r.seventeen_track {
                assert!(line.contains(&format!("`{k}`")), "{k} missing in {line}");
            }
        }
    }
}
