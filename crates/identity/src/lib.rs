//! Who a request acts for.
//!
//! A member proves who they are with a token the brand's own login issued (WeChat
//! OAuth, phone + SMS: outside yima), a JWT whose `sub` is the member id. yima only
//! verifies it, in process and without touching Redis or Postgres, so a forged token
//! costs one signature check and no shared state, as a forged code does. Registration
//! invites and the profile rules live here too: all pure, no IO.

mod invites;
pub mod profile;
mod tokens;

pub use invites::{Invite, InviteRefused, InviteSecretTooShort, Invites};
pub use tokens::{MIN_SECRET_BYTES, MemberTokens, TokenError, TokenKeys, TokenRefused};
