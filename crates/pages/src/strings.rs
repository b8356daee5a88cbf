//! Every word the pages say, once per language. A language is one struct value, so a
//! string missing from either is a compile error, not an English word on a Chinese page.

/// The languages pages speak: Simplified Chinese first, for the tradesmen scanning in
/// WeChat; English second.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Lang {
    /// 简体中文, the default.
    #[default]
    Zh,
    /// English.
    En,
}

impl Lang {
    /// The language a `lang` parameter or cookie names; `None` for anything else.
    pub fn from_code(code: &str) -> Option<Self> {
        match code {
            "zh" | "zh-CN" => Some(Self::Zh),
            "en" => Some(Self::En),
            _ => None,
        }
    }

    /// The code in `?lang=` and the cookie.
    pub fn code(self) -> &'static str {
        match self {
            Self::Zh => "zh",
            Self::En => "en",
        }
    }

    /// The other language: what the switch offers.
    pub fn other(self) -> Self {
        match self {
            Self::Zh => Self::En,
            Self::En => Self::Zh,
        }
    }

    /// Its words.
    pub fn strings(self) -> &'static Strings {
        match self {
            Self::Zh => &ZH,
            Self::En => &EN,
        }
    }
}

/// A title and the sentence under it.
#[derive(Debug)]
pub struct Message {
    /// The headline.
    pub title: &'static str,
    /// What it means and what to do.
    pub body: &'static str,
}

/// The words of one language. `{n}` in a string is replaced by a number.
#[derive(Debug)]
pub struct Strings {
    /// The `lang` attribute.
    pub html_lang: &'static str,
    /// This language's own name, on the other language's switch.
    pub name: &'static str,
    /// The switch's accessible label.
    pub switch_label: &'static str,
    /// The page title of a scan.
    pub scan_title: &'static str,
    /// A drawn prize.
    pub won: Message,
    /// A dealer's rebate.
    pub rebate: Message,
    /// Nothing drawn.
    pub no_prize: Message,
    /// Someone else redeemed the code.
    pub already_redeemed: Message,
    /// The day's scans are used up.
    pub daily_limit: Message,
    /// Before the start or after the end.
    pub campaign_closed: Message,
    /// The batch was voided.
    pub batch_void: Message,
    /// Scanned outside the batch's region, which the campaign refuses.
    pub wrong_region: Message,
    /// The member is blocked.
    pub blocked: Message,
    /// Forged, tampered or unknown: the same words for each.
    pub invalid_code: Message,
    /// Too fast; `{n}` is seconds to wait.
    pub rate_limited: Message,
    /// Redis or Postgres failed.
    pub unavailable: Message,
    /// A page's link names no campaign of the brand.
    pub unknown_campaign: Message,
    /// No login is configured.
    pub login_unavailable: Message,
    /// The login page.
    pub login: Message,
    /// The button to the brand's login.
    pub login_button: &'static str,
    /// The dev login's field label.
    pub dev_member_label: &'static str,
    /// The dev login's note.
    pub dev_note: &'static str,
    /// A dev login with a malformed member id.
    pub dev_bad_member: &'static str,
    /// The login link expired or was not started here.
    pub login_expired: Message,
    /// The reveal animation's words.
    pub drawing: &'static str,
    /// Label of the points this scan earned.
    pub points_awarded: &'static str,
    /// Label of the balance.
    pub points_balance: &'static str,
    /// `{n}` is the level number.
    pub level: &'static str,
    /// `{n}` is the growth still needed.
    pub to_next_level: &'static str,
    /// At the top level.
    pub top_level: &'static str,
    /// A cash or item prize's worth; `{n}` is yuan with fen.
    pub worth: &'static str,
    /// A points prize; `{n}` is points.
    pub points_prize: &'static str,
    /// What happens to a cash prize.
    pub next_cash: &'static str,
    /// What happens to an item prize.
    pub next_item: &'static str,
    /// What happens to a points prize.
    pub next_points: &'static str,
    /// What happens to a cash rebate.
    pub next_rebate_cash: &'static str,
    /// That a reload is safe.
    pub reload_note: &'static str,
    /// Label of the scan id, for support.
    pub scan_id: &'static str,
    /// The brand's footer.
    pub footer: &'static str,
    /// The member centre's title.
    pub centre_title: &'static str,
    /// The link to it.
    pub centre_link: &'static str,
    /// The label of this month's rank.
    pub rank_label: &'static str,
    /// Not on this month's board yet.
    pub unranked: &'static str,
    /// The daily sign-in's heading.
    pub sign_in_title: &'static str,
    /// Its button; `{n}` is the points it pays.
    pub sign_in_button: &'static str,
    /// Signed in now; `{n}` is the points credited.
    pub signed_in: &'static str,
    /// Signed in earlier today.
    pub already_signed_in: &'static str,
    /// The campaign is not open for sign-ins.
    pub sign_in_closed: &'static str,
    /// The mall's heading.
    pub mall_title: &'static str,
    /// A price; `{n}` is points.
    pub price: &'static str,
    /// A gift for higher levels; `{n}` is the lowest level.
    pub from_level: &'static str,
    /// The button to buy.
    pub redeem_button: &'static str,
    /// The confirm page's heading.
    pub confirm_title: &'static str,
    /// The balance after buying; `{n}` is points.
    pub balance_after: &'static str,
    /// The confirm button.
    pub confirm_button: &'static str,
    /// Back to the centre.
    pub back: &'static str,
    /// Bought; `{n}` is the points paid.
    pub redeemed: &'static str,
    /// Not enough points.
    pub insufficient_points: &'static str,
    /// Below the gift's level.
    pub level_too_low: &'static str,
    /// Sold out.
    pub out_of_stock: &'static str,
    /// The history tabs.
    pub history_scans: &'static str,
    /// Prizes won.
    pub history_awards: &'static str,
    /// The points ledger.
    pub history_ledger: &'static str,
    /// No entries yet.
    pub history_empty: &'static str,
    /// The next page.
    pub more: &'static str,
    /// A cash payout's state: waiting.
    pub payout_pending: &'static str,
    /// Paid.
    pub payout_delivered: &'static str,
    /// Failed; support will follow up.
    pub payout_failed: &'static str,
    /// A ledger entry's reason: a scan.
    pub reason_scan: &'static str,
    /// A sign-in.
    pub reason_sign_in: &'static str,
    /// A mall purchase.
    pub reason_purchase: &'static str,
    /// A level downgrade or anything else.
    pub reason_other: &'static str,
    /// The centre's list of physical prizes.
    pub my_prizes: &'static str,
    /// Not claimed yet.
    pub unclaimed: &'static str,
    /// The button to claim.
    pub claim_button: &'static str,
    /// Claimed, waiting to ship.
    pub claimed: &'static str,
    /// Shipped.
    pub shipped: &'static str,
    /// The tracking number's label.
    pub tracking: &'static str,
    /// Delivered.
    pub delivered: &'static str,
    /// The claim window passed.
    pub expired: &'static str,
    /// The claim form's title.
    pub claim_title: &'static str,
    /// Its note.
    pub claim_note: &'static str,
    /// Field: who receives it.
    pub field_name: &'static str,
    /// Field: their phone.
    pub field_phone: &'static str,
    /// Field: province, city, district.
    pub field_region: &'static str,
    /// Field: street and room.
    pub field_address: &'static str,
    /// The claim form's button.
    pub claim_submit: &'static str,
    /// A field was refused.
    pub claim_invalid: &'static str,
    /// Flash: claimed.
    pub claim_done: &'static str,
    /// Flash: claimed before.
    pub claim_again: &'static str,
    /// Flash: too late.
    pub claim_expired: &'static str,
    /// The registration page; `{n}` in its body is the architecture's name.
    pub join: Message,
    /// Field: the nickname.
    pub field_nickname: &'static str,
    /// Field: the region code (optional).
    pub field_region_code: &'static str,
    /// Field: the birthday (optional).
    pub field_birthday: &'static str,
    /// Marks a field that may be left empty.
    pub optional: &'static str,
    /// The registration button.
    pub join_submit: &'static str,
    /// A field was refused.
    pub join_invalid: &'static str,
    /// Registered; `{n}` is the architecture's name.
    pub joined: Message,
    /// The invite is forged or for no architecture of the brand.
    pub invite_invalid: Message,
    /// The invite has expired.
    pub invite_expired: Message,
    /// Registered in another architecture already.
    pub registered_elsewhere: Message,
}

/// 简体中文.
pub static ZH: Strings = Strings {
    html_lang: "zh-CN",
    name: "中文",
    switch_label: "切换语言",
    scan_title: "扫码结果",
    won: Message {
        title: "恭喜您中奖了！",
        body: "奖品已为您保留。",
    },
    rebate: Message {
        title: "进货返利已到账",
        body: "感谢您进货，这一袋的返利已记入。",
    },
    no_prize: Message {
        title: "谢谢参与",
        body: "本次未中奖，积分已到账，继续扫码赢好礼。",
    },
    already_redeemed: Message {
        title: "此码已被领取",
        body: "这个码已经被扫过了，每个码只能领取一次。",
    },
    daily_limit: Message {
        title: "今日扫码次数已用完",
        body: "明天再来吧，这个码仍然可以领取。",
    },
    campaign_closed: Message {
        title: "活动未开始或已结束",
        body: "这个码现在不能参加活动，请关注品牌的下一期活动。",
    },
    batch_void: Message {
        title: "此批次已作废",
        body: "这个码所在的批次已停用，请联系经销商或品牌客服。",
    },
    wrong_region: Message {
        title: "此码不在本地区销售",
        body: "本产品应在其他地区销售，无法在此领取，请联系品牌客服。",
    },
    blocked: Message {
        title: "账户已暂停",
        body: "您的账户暂时不能参加活动，请联系品牌客服。",
    },
    invalid_code: Message {
        title: "无效的码",
        body: "这不是本品牌的正品码，请核对包装上的标签。",
    },
    rate_limited: Message {
        title: "操作太频繁",
        body: "请 {n} 秒后再试，您的扫码不会重复计算。",
    },
    unavailable: Message {
        title: "服务繁忙",
        body: "请稍后刷新重试，刷新不会重复扫码。",
    },
    unknown_campaign: Message {
        title: "活动不存在",
        body: "这个链接里的活动不存在，请扫码或从会员中心进入。",
    },
    login_unavailable: Message {
        title: "暂时无法登录",
        body: "品牌尚未开通登录，请稍后再试。",
    },
    login: Message {
        title: "登录后领取",
        body: "登录会员即可领取这个码的奖励。",
    },
    login_button: "登录领奖",
    dev_member_label: "会员编号",
    dev_note: "演示登录：输入任意会员编号。",
    dev_bad_member: "会员编号为 1 到 64 位字母、数字或 _ . @ -",
    login_expired: Message {
        title: "登录已过期",
        body: "请重新扫码登录。",
    },
    drawing: "开奖中…",
    points_awarded: "本次积分",
    points_balance: "积分余额",
    level: "等级 {n}",
    to_next_level: "距下一级还差 {n} 成长值",
    top_level: "已是最高等级",
    worth: "价值 ¥{n}",
    points_prize: "{n} 积分",
    next_cash: "红包将发放到您的账户，请留意到账通知。",
    next_item: "请在会员中心填写收货地址领取奖品。",
    next_points: "奖励积分已计入您的账户。",
    next_rebate_cash: "返利将支付到您的账户。",
    reload_note: "刷新本页只会再次显示这个结果，不会重复扫码。",
    scan_id: "扫码编号",
    footer: "一物一码 · 正品保障",
    centre_title: "会员中心",
    centre_link: "会员中心",
    rank_label: "本月排名",
    unranked: "本月还没有扫码",
    sign_in_title: "每日签到",
    sign_in_button: "签到领 {n} 积分",
    signed_in: "签到成功，获得 {n} 积分。",
    already_signed_in: "今天已经签到过了，明天再来。",
    sign_in_closed: "活动未开放，暂不能签到。",
    mall_title: "积分商城",
    price: "{n} 积分",
    from_level: "等级 {n} 起可兑换",
    redeem_button: "兑换",
    confirm_title: "确认兑换",
    balance_after: "兑换后余额 {n} 积分",
    confirm_button: "确认兑换",
    back: "返回会员中心",
    redeemed: "兑换成功，扣除 {n} 积分。",
    insufficient_points: "积分不足，继续扫码攒积分吧。",
    level_too_low: "等级不够，升级后再来兑换。",
    out_of_stock: "这件礼品已兑完。",
    history_scans: "扫码记录",
    history_awards: "我的奖品",
    history_ledger: "积分明细",
    history_empty: "还没有记录。",
    more: "更多",
    payout_pending: "发放中",
    payout_delivered: "已到账",
    payout_failed: "发放失败，客服会联系您",
    reason_scan: "扫码",
    reason_sign_in: "签到",
    reason_purchase: "兑换礼品",
    reason_other: "调整",
    my_prizes: "我的奖品",
    unclaimed: "待领取",
    claim_button: "填写地址领取",
    claimed: "已领取，等待发货",
    shipped: "已发货",
    tracking: "运单号",
    delivered: "已签收",
    expired: "已过期未领取",
    claim_title: "填写收货地址",
    claim_note: "地址只用于寄送奖品。",
    field_name: "收货人",
    field_phone: "手机号",
    field_region: "省 / 市 / 区",
    field_address: "详细地址",
    claim_submit: "提交领取",
    claim_invalid: "请检查填写的内容：收货人、11 位手机号、地区和详细地址都要填写。",
    claim_done: "领取成功，我们会尽快发货。",
    claim_again: "这件奖品已经领取过了。",
    claim_expired: "这件奖品已超过领取期限。",
    join: Message {
        title: "会员注册",
        body: "您受邀加入：{n}",
    },
    field_nickname: "昵称",
    field_region_code: "地区代码，如 CN-31",
    field_birthday: "生日",
    optional: "（选填）",
    join_submit: "注册",
    join_invalid: "请检查填写的内容：昵称 1 到 32 个字，手机号 11 位，地区代码如 CN-31。",
    joined: Message {
        title: "注册成功",
        body: "欢迎加入：{n}",
    },
    invite_invalid: Message {
        title: "邀请无效",
        body: "这个注册链接不是品牌发出的，请向品牌索取正确的链接。",
    },
    invite_expired: Message {
        title: "邀请已过期",
        body: "这个注册链接已过期，请向品牌索取新的链接。",
    },
    registered_elsewhere: Message {
        title: "已注册其他身份",
        body: "您已经以其他会员身份注册，如需变更请联系品牌客服。",
    },
};

/// English.
pub static EN: Strings = Strings {
    html_lang: "en",
    name: "English",
    switch_label: "Language",
    scan_title: "Scan result",
    won: Message {
        title: "Congratulations, you won!",
        body: "Your prize is reserved for you.",
    },
    rebate: Message {
        title: "Stocking rebate credited",
        body: "Thank you for stocking: this bag's rebate is booked.",
    },
    no_prize: Message {
        title: "Thanks for taking part",
        body: "No prize this time; your points are in. Keep scanning to win.",
    },
    already_redeemed: Message {
        title: "Already redeemed",
        body: "This code has been scanned before. Each code is redeemed once.",
    },
    daily_limit: Message {
        title: "Today's scans are used up",
        body: "Come back tomorrow: this code can still be redeemed.",
    },
    campaign_closed: Message {
        title: "The campaign is not running",
        body: "This code cannot take part now. Watch for the brand's next campaign.",
    },
    batch_void: Message {
        title: "This batch was withdrawn",
        body: "The batch of this code is no longer valid. Please contact your dealer or the brand.",
    },
    wrong_region: Message {
        title: "Not sold in this region",
        body: "This product is meant for another region and cannot be redeemed here. Please contact the brand.",
    },
    blocked: Message {
        title: "Account suspended",
        body: "Your account cannot take part for now. Please contact the brand.",
    },
    invalid_code: Message {
        title: "Invalid code",
        body: "This is not a genuine code of the brand. Please check the label on the pack.",
    },
    rate_limited: Message {
        title: "Too many scans",
        body: "Please try again in {n} seconds; nothing is counted twice.",
    },
    unavailable: Message {
        title: "Service busy",
        body: "Please reload in a moment; a reload never scans twice.",
    },
    unknown_campaign: Message {
        title: "No such campaign",
        body: "This link names no campaign of the brand. Scan a label, or open the member centre.",
    },
    login_unavailable: Message {
        title: "Login is not available",
        body: "The brand has not set up its login yet. Please try again later.",
    },
    login: Message {
        title: "Log in to redeem",
        body: "Log in as a member to get this code's reward.",
    },
    login_button: "Log in and redeem",
    dev_member_label: "Member id",
    dev_note: "Demo login: enter any member id.",
    dev_bad_member: "A member id is 1 to 64 letters, digits or _ . @ -",
    login_expired: Message {
        title: "The login has expired",
        body: "Please scan the code again to log in.",
    },
    drawing: "Drawing…",
    points_awarded: "Points this scan",
    points_balance: "Points balance",
    level: "Level {n}",
    to_next_level: "{n} growth to the next level",
    top_level: "Top level reached",
    worth: "Worth ¥{n}",
    points_prize: "{n} points",
    next_cash: "The red packet is paid to your account; watch for the notice.",
    next_item: "Claim it in the member centre with your shipping address.",
    next_points: "The bonus points are in your account.",
    next_rebate_cash: "The rebate is paid to your account.",
    reload_note: "Reloading this page shows this answer again; it never scans twice.",
    scan_id: "Scan id",
    footer: "One item, one code · genuine goods",
    centre_title: "Member centre",
    centre_link: "Member centre",
    rank_label: "Rank this month",
    unranked: "No scans this month yet",
    sign_in_title: "Daily sign-in",
    sign_in_button: "Sign in for {n} points",
    signed_in: "Signed in: {n} points credited.",
    already_signed_in: "You signed in today already. Come back tomorrow.",
    sign_in_closed: "The campaign is not open for sign-ins.",
    mall_title: "Points mall",
    price: "{n} points",
    from_level: "From level {n}",
    redeem_button: "Redeem",
    confirm_title: "Confirm",
    balance_after: "Balance after: {n} points",
    confirm_button: "Redeem now",
    back: "Back to the member centre",
    redeemed: "Redeemed for {n} points.",
    insufficient_points: "Not enough points yet: keep scanning.",
    level_too_low: "Your level is too low for this gift yet.",
    out_of_stock: "This gift is sold out.",
    history_scans: "Scans",
    history_awards: "Prizes",
    history_ledger: "Points",
    history_empty: "Nothing yet.",
    more: "More",
    payout_pending: "paying",
    payout_delivered: "paid",
    payout_failed: "payment failed; support will contact you",
    reason_scan: "scan",
    reason_sign_in: "sign-in",
    reason_purchase: "gift",
    reason_other: "adjustment",
    my_prizes: "My prizes",
    unclaimed: "to claim",
    claim_button: "Claim with an address",
    claimed: "claimed, waiting to ship",
    shipped: "shipped",
    tracking: "tracking no.",
    delivered: "delivered",
    expired: "expired unclaimed",
    claim_title: "Shipping address",
    claim_note: "The address is used to send the prize only.",
    field_name: "Recipient",
    field_phone: "Mobile number",
    field_region: "Province / city / district",
    field_address: "Street address",
    claim_submit: "Claim the prize",
    claim_invalid: "Please check the form: recipient, an 11-digit mobile number, region and address are all needed.",
    claim_done: "Claimed: we will ship it soon.",
    claim_again: "This prize was claimed already.",
    claim_expired: "The time to claim this prize has passed.",
    join: Message {
        title: "Register",
        body: "You are invited to join as: {n}",
    },
    field_nickname: "Nickname",
    field_region_code: "Region code, such as CN-31",
    field_birthday: "Birthday",
    optional: " (optional)",
    join_submit: "Register",
    join_invalid: "Please check the form: a nickname of 1 to 32 characters, an 11-digit mobile number, a region code such as CN-31.",
    joined: Message {
        title: "Registered",
        body: "Welcome: you are a member as {n}.",
    },
    invite_invalid: Message {
        title: "Invalid invitation",
        body: "This registration link was not issued by the brand. Please ask the brand for the right one.",
    },
    invite_expired: Message {
        title: "The invitation has expired",
        body: "This registration link has expired. Please ask the brand for a new one.",
    },
    registered_elsewhere: Message {
        title: "Registered otherwise already",
        body: "You are registered as another kind of member. Please contact the brand to change it.",
    },
};

/// `template` with `{n}` replaced by `value`.
pub fn fill(template: &str, value: impl std::fmt::Display) -> String {
    template.replace("{n}", &value.to_string())
}
