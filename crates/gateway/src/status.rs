//! Every status a scan request is answered with: the one list the answer bodies, the
//! `yima_scans_total` metric and the scan script's own statuses are held to.

use serde::Serialize;
use strum::{IntoStaticStr, VariantArray};

use crate::ApiError;

/// How a scan request ended.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema, IntoStaticStr, VariantArray,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum ScanStatus {
    /// A first scan that drew a prize.
    Won,
    /// A first scan paid its SKU's fixed rebate under the member's architecture, with
    /// no draw (一码两扫: the dealer's half).
    Rebate,
    /// A first scan that drew none.
    NoPrize,
    /// The same member, code and role again: the stored answer, byte for byte.
    Retry,
    /// The code and role were redeemed by another member.
    AlreadyRedeemed,
    /// The member's scans for the campaign day are used up; the code stays unredeemed.
    DailyLimit,
    /// The campaign has not started or has ended.
    CampaignClosed,
    /// The code's batch was voided.
    BatchVoid,
    /// Scanned outside the batch's region, and the campaign refuses that.
    WrongRegion,
    /// Ops blocked the member: nothing is drawn.
    Blocked,
    /// Forged, tampered, malformed or unregistered.
    InvalidCode,
    /// No credential, or an invalid one.
    Unauthorized,
    /// A credential acting for another member, or one that cannot scan.
    Forbidden,
    /// The body is not a scan.
    BadRequest,
    /// The body is over the limit.
    PayloadTooLarge,
    /// A rate limit refused it.
    RateLimited,
    /// Redis or Postgres failed.
    Unavailable,
}

impl ScanStatus {
    /// The status of a first scan that ended so.
    pub fn of_finish(finish: yima_store::Finish) -> Self {
        match finish {
            yima_store::Finish::Won => Self::Won,
            yima_store::Finish::NoPrize => Self::NoPrize,
            yima_store::Finish::Rebate => Self::Rebate,
        }
    }

    /// The name in answers and in the metric's `status` label.
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// Its position in [`ScanStatus::VARIANTS`].
    pub fn index(self) -> usize {
        self as usize
    }

    /// The status of a scan that failed with `error`.
    pub(crate) fn of_error(error: &ApiError) -> Self {
        match error {
            ApiError::InvalidCode | ApiError::NotFound(_) => Self::InvalidCode,
            ApiError::BadRequest(_) => Self::BadRequest,
            ApiError::PayloadTooLarge => Self::PayloadTooLarge,
            ApiError::RateLimited { .. } => Self::RateLimited,
            ApiError::Unauthorized => Self::Unauthorized,
            ApiError::Forbidden => Self::Forbidden,
            ApiError::Unavailable(_)
            | ApiError::Conflict(_)
            | ApiError::Gone(_)
            | ApiError::Unprocessable(_)
            | ApiError::InvalidCampaign(_)
            | ApiError::InvalidShipments(_)
            | ApiError::RefusedShipments(_)
            | ApiError::RefusedChange(_) => Self::Unavailable,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_serde_names_and_unique() {
        let mut seen = std::collections::HashSet::new();
        for (index, status) in ScanStatus::VARIANTS.iter().copied().enumerate() {
            assert_eq!(status.index(), index, "VARIANTS is in declaration order");
            assert_eq!(
                serde_json::to_value(status).expect("serialises"),
                status.as_str()
            );
            assert!(seen.insert(status.as_str()), "{status:?}");
        }
    }

    #[test]
    fn every_status_the_scan_script_writes_is_one_of_them() {
        let script = include_str!("../../store/src/lua/scan.lua");
        let written: Vec<&str> = script
            .split("status = '")
            .skip(1)
            .filter_map(|rest| rest.split('\'').next())
            .collect();
        assert!(written.len() >= 2, "{written:?}");
        for status in written {
            assert!(
                ScanStatus::VARIANTS.iter().any(|s| s.as_str() == status),
                "scan.lua writes `{status}`"
            );
        }
    }

    #[test]
    fn scan_errors_keep_their_codes() {
        for (error, status) in [
            (ApiError::InvalidCode, ScanStatus::InvalidCode),
            (ApiError::BadRequest("x".into()), ScanStatus::BadRequest),
            (ApiError::PayloadTooLarge, ScanStatus::PayloadTooLarge),
            (ApiError::Unauthorized, ScanStatus::Unauthorized),
            (ApiError::Forbidden, ScanStatus::Forbidden),
            (ApiError::Unavailable("x".into()), ScanStatus::Unavailable),
        ] {
            assert_eq!(ScanStatus::of_error(&error), status);
            assert_eq!(error.code().as_str(), status.as_str());
        }
    }
}
