//! Reading a StatefulSet ordinal out of a pod's hostname.

use std::net::IpAddr;

use crate::name::is_hostname_label;

/// The ordinal in `<statefulset>-<n>`, or `None` when the hostname is not of that shape
/// or is the dashed form of the pod's own IP (`10-244-1-7`), which Kubernetes uses when
/// the pod has no hostname under this Service.
///
/// The shape: `<statefulset>` is an RFC 1123 label (so `redis--1` has none), `<n>` a
/// decimal without leading zeros that fits in a `u32`.
///
/// Ordinals are read, never assumed: they need not start at 0 (`.spec.ordinals.start`)
/// nor be contiguous.
pub(crate) fn parse(hostname: &str, ip: IpAddr) -> Option<u32> {
    // Only a name made of hex digits and dashes can be a dashed IP; skip the formatting
    // for the usual `<statefulset>-<n>`.
    let could_be_ip = hostname.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-');
    if could_be_ip && hostname == dashed(ip) {
        return None;
    }
    let (prefix, digits) = hostname.rsplit_once('-')?;
    if !is_hostname_label(prefix.as_bytes())
        || digits.is_empty()
        || !digits.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    if digits.len() > 1 && digits.starts_with('0') {
        return None;
    }
    digits.parse().ok()
}

/// The label CoreDNS gives an endpoint without a hostname: the IP with `.`/`:` turned
/// into `-`, and a `0` added where an IPv6 form would start or end with `-`.
pub(crate) fn dashed(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string().replace('.', "-"),
        IpAddr::V6(v6) => {
            let mut s = v6.to_string().replace(':', "-");
            if s.starts_with('-') {
                s.insert(0, '0');
            }
            if s.ends_with('-') {
                s.push('0');
            }
            s
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4() -> IpAddr {
        IpAddr::from([10, 244, 1, 7])
    }

    #[test]
    fn ordinals_come_from_the_last_dash() {
        let cases = [
            ("redis-0", Some(0)),
            ("redis-12", Some(12)),
            ("my-cache-db-5", Some(5)),
            ("redis", None),
            ("redis-", None),
            ("-3", None),
            ("redis-x1", None),
            ("redis-01", None),
            ("redis-99999999999", None),
            ("redis-4294967295", Some(u32::MAX)),
            ("redis-4294967296", None),
            ("redis--1", None),
            ("red_is-1", None),
            ("Redis-1", None),
            ("redis-+1", None),
            ("10-244-1-7", None),
        ];
        for (hostname, expected) in cases {
            assert_eq!(parse(hostname, v4()), expected, "{hostname}");
        }
    }

    #[test]
    fn a_dashed_name_of_another_ip_is_read_as_a_name() {
        // Only the pod's own dashed IP means "no hostname".
        assert_eq!(parse("10-244-1-8", v4()), Some(8));
    }

    proptest::proptest! {
        /// Whatever the label, an ordinal is read exactly when the grammar says so:
        /// `<RFC 1123 label>-<decimal without leading zeros, fits in u32>`.
        #[test]
        fn ordinals_follow_the_statefulset_grammar(
            prefix in "[a-z0-9-]{0,8}",
            digits in "[0-9]{0,11}",
            dash in proptest::bool::ANY,
        ) {
            let hostname = if dash { format!("{prefix}-{digits}") } else { format!("{prefix}{digits}") };
            // The reference grammar, written apart from `parse`.
            let expected = hostname.rsplit_once('-').and_then(|(name, n)| {
                let name_ok = !name.is_empty() && !name.starts_with('-') && !name.ends_with('-');
                let n_ok = !n.is_empty() && (n == "0" || !n.starts_with('0'));
                if name_ok && n_ok { n.parse::<u32>().ok() } else { None }
            });
            // The pod's own dashed IP has no ordinal; an address no name can match avoids it.
            let ip = IpAddr::from([10, 255, 255, 254]);
            proptest::prop_assert_eq!(parse(&hostname, ip), expected, "{}", hostname);
        }
    }

    #[test]
    fn dashed_forms_match_coredns() {
        assert_eq!(dashed(v4()), "10-244-1-7");
        assert_eq!(dashed("fd00::1".parse().expect("ip")), "fd00--1");
        assert_eq!(dashed("::1".parse().expect("ip")), "0--1");
        assert_eq!(dashed("fd00::".parse().expect("ip")), "fd00--0");
        assert_eq!(parse("fd00--1", "fd00::1".parse().expect("ip")), None);
    }
}
