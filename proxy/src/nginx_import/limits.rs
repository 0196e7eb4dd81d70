//! `limit_req_zone` / `limit_req`: a zone keyed by the client address becomes `traffic.per_ip`,
//! one keyed by `$http_x_api_key` becomes `traffic.per_api_key`. The proxy answers excess
//! requests at once with 429; nginx delays those within the burst unless `nodelay`.

use std::collections::HashMap;

use super::draft::{set_once, Draft, Period, Rate, RateKey};
use super::report::{Findings, Loc};

#[derive(Debug, Clone)]
pub struct Zone {
    pub key: Option<RateKey>,
    pub requests: u32,
    pub per: Period,
    pub at: Loc,
}

/// `limit_req_zone KEY zone=NAME:SIZE rate=Nr/s|Nr/m`; `None` (reported) when unusable.
pub fn zone(args: &[String], at: &Loc, f: &mut Findings) -> Option<(String, Zone)> {
    let [key, zone, rate, ..] = args else {
        f.untranslated(at, "expected KEY zone=NAME:SIZE rate=RATE");
        return None;
    };
    let name = zone.strip_prefix("zone=").and_then(|z| z.split(':').next());
    let rate = rate.strip_prefix("rate=").and_then(parse_rate);
    let (Some(name), Some((requests, per))) = (name, rate) else {
        f.untranslated(
            at,
            "expected zone=NAME:SIZE and rate=Nr/s or rate=Nr/m (N ≥ 1)",
        );
        return None;
    };
    let key = match key.as_str() {
        "$binary_remote_addr" | "$remote_addr" => Some(RateKey::Ip),
        "$http_x_api_key" => Some(RateKey::ApiKey),
        _ => None,
    };
    Some((
        name.to_owned(),
        Zone {
            key,
            requests,
            per,
            at: at.clone(),
        },
    ))
}

fn parse_rate(rate: &str) -> Option<(u32, Period)> {
    let (n, per) = if let Some(n) = rate.strip_suffix("r/s") {
        (n, Period::Second)
    } else {
        (rate.strip_suffix("r/m")?, Period::Minute)
    };
    n.parse::<u32>().ok().filter(|&n| n >= 1).map(|n| (n, per))
}

/// `limit_req zone=NAME [burst=N] [nodelay | delay=N]`.
pub fn limit(
    args: &[String],
    zones: &HashMap<String, Zone>,
    draft: &mut Draft,
    at: &Loc,
    f: &mut Findings,
) {
    let name = args.iter().find_map(|a| a.strip_prefix("zone="));
    let Some(zone) = name.and_then(|n| zones.get(n)) else {
        f.untranslated(at, "zone= names no limit_req_zone that could be translated");
        return;
    };
    let burst = match args.iter().find_map(|a| a.strip_prefix("burst=")) {
        None => 0,
        Some(b) => match b.parse::<u32>() {
            Ok(b) => b,
            Err(_) => {
                f.untranslated(at, "burst= must be a whole number");
                return;
            }
        },
    };
    let Some(key) = zone.key else {
        f.untranslated(
            at,
            format!(
                "the zone at {} is keyed by something other than $binary_remote_addr, \
                 $remote_addr or $http_x_api_key",
                zone.at
            ),
        );
        return;
    };
    if !args.iter().any(|a| a == "nodelay") {
        f.note(
            at,
            "nginx delays requests within the burst; the proxy lets them through at once and \
             answers 429 beyond it",
        );
    }
    let rate = Rate {
        requests: zone.requests,
        per: zone.per,
        // nginx's burst counts requests beyond the first; the proxy's bucket holds them all.
        burst: burst.saturating_add(1),
    };
    let (slot, what) = match key {
        RateKey::Ip => (&mut draft.per_ip, "per-IP rate"),
        RateKey::ApiKey => (&mut draft.per_api_key, "per-API-key rate"),
    };
    set_once(slot, rate, at, what, f);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(line: usize) -> Loc {
        Loc {
            file: "t.conf".into(),
            line,
            directive: "limit_req".into(),
        }
    }

    fn strings(s: &[&str]) -> Vec<String> {
        s.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn zones_by_address_become_the_per_ip_rate() {
        let mut f = Findings::default();
        let (name, z) = zone(
            &strings(&["$binary_remote_addr", "zone=api:10m", "rate=100r/m"]),
            &at(1),
            &mut f,
        )
        .unwrap();
        let zones = HashMap::from([(name, z)]);
        let mut draft = Draft::default();
        limit(
            &strings(&["zone=api", "burst=20", "nodelay"]),
            &zones,
            &mut draft,
            &at(2),
            &mut f,
        );
        let rate = draft.per_ip.unwrap().value;
        assert_eq!(
            (rate.requests, rate.per, rate.burst),
            (100, Period::Minute, 21)
        );
        assert!(f.0.is_empty());
    }

    #[test]
    fn unusable_zones_are_reported() {
        let mut f = Findings::default();
        assert!(zone(
            &strings(&["$a", "zone=z:1m", "rate=0.5r/s"]),
            &at(1),
            &mut f
        )
        .is_none());
        let (name, z) = zone(
            &strings(&["$server_name", "zone=s:1m", "rate=5r/s"]),
            &at(2),
            &mut f,
        )
        .unwrap();
        let zones = HashMap::from([(name, z)]);
        let mut draft = Draft::default();
        limit(&strings(&["zone=s"]), &zones, &mut draft, &at(3), &mut f);
        limit(
            &strings(&["zone=missing"]),
            &zones,
            &mut draft,
            &at(4),
            &mut f,
        );
        assert!(draft.per_ip.is_none());
        assert_eq!(f.untranslated_count(), 3);
    }
}
