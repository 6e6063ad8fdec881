//! The words of the simulated desk: problem categories with bilingual titles,
//! descriptions, causes and solutions, and the people and organisations.

/// One kind of problem the desk sees.
pub struct Category {
    /// Knowledge category (the record's `category`).
    pub key: &'static str,
    /// Handled by security engineers rather than support engineers.
    pub security: bool,
    /// Team that takes it.
    pub team: &'static str,
    /// Titles, Chinese and English.
    pub titles: &'static [&'static str],
    /// Descriptions as a customer writes them.
    pub descriptions: &'static [&'static str],
    /// Affected systems.
    pub systems: &'static [&'static str],
    /// (cause, solution) pairs.
    pub diagnoses: &'static [(&'static str, &'static str)],
    /// Relative frequency (per mille of arrivals, roughly).
    pub weight: u32,
}

/// The categories. Weights sum to 1000.
pub const CATEGORIES: &[Category] = &[
    Category {
        key: "vpn",
        security: false,
        team: "network",
        titles: &["VPN 无法连接", "VPN users cannot connect", "远程办公 VPN 频繁掉线", "VPN drops every few minutes"],
        descriptions: &[
            "自今天上午起，分支机构员工无法通过 VPN 登录，客户端提示证书错误。",
            "Since this morning staff at the branch office cannot log in over the VPN; the client reports a certificate error.",
            "VPN sessions drop roughly every ten minutes for users on the 4G network.",
        ],
        systems: &["vpn-gw-1", "vpn-gw-2", "sslvpn-edge"],
        diagnoses: &[
            ("网关 TLS 证书已过期", "续签证书并重新加载网关"),
            ("the gateway's idle timeout was lowered in the last change", "restore the idle timeout to 30 minutes"),
        ],
        weight: 130,
    },
    Category {
        key: "firewall",
        security: false,
        team: "network",
        titles: &["防火墙策略误拦截业务流量", "Firewall rule blocks business traffic", "新上线系统端口未放通", "New service port not opened"],
        descriptions: &[
            "ERP 与仓储系统之间的接口调用全部超时，怀疑被防火墙拦截。",
            "Calls from the ERP to the warehouse system time out; we suspect the firewall.",
            "The new payment service cannot reach the database on port 5432.",
        ],
        systems: &["fw-core-1", "fw-dmz", "ngfw-branch"],
        diagnoses: &[
            ("策略变更时误删了放通规则", "恢复规则并加入变更复核清单"),
            ("a deny-any rule was placed above the allow rule", "reorder the policy and add a regression check"),
        ],
        weight: 120,
    },
    Category {
        key: "malware",
        security: true,
        team: "soc",
        titles: &["终端发现恶意软件告警", "Endpoint malware alert", "勒索软件可疑行为", "Suspected ransomware behaviour"],
        descriptions: &[
            "EDR 在财务部两台电脑上报告木马告警，请协助处置。",
            "EDR flagged a trojan on two finance laptops; please help contain it.",
            "A file server shows mass renames with a .lock extension.",
        ],
        systems: &["edr-console", "fileserver-01", "finance-pc"],
        diagnoses: &[
            ("用户打开了伪装成发票的恶意附件", "隔离终端、清除样本、重置凭据并开展培训"),
            ("an unpatched VPN appliance let a loader in", "isolate hosts, remove the loader, patch the appliance"),
        ],
        weight: 90,
    },
    Category {
        key: "phishing",
        security: true,
        team: "soc",
        titles: &["员工收到钓鱼邮件", "Phishing email reported", "仿冒 OA 登录页", "Fake webmail login page"],
        descriptions: &[
            "多名员工收到冒充 IT 部门的邮件，要求点击链接修改密码。",
            "Several staff received mail pretending to be IT asking them to reset their password via a link.",
        ],
        systems: &["mail-gw", "o365-tenant", "oa-portal"],
        diagnoses: &[
            ("邮件网关未拦截新注册的仿冒域名", "封禁域名、撤回邮件、强制受影响账号改密"),
            ("the lookalike domain passed SPF checks", "block the domain, purge the mail, reset exposed accounts"),
        ],
        weight: 90,
    },
    Category {
        key: "waf",
        security: false,
        team: "service",
        titles: &["WAF 误报导致页面无法访问", "WAF false positive blocks checkout"],
        descriptions: &[
            "用户提交订单时返回 403，WAF 日志显示 SQL 注入规则命中。",
            "Customers get a 403 at checkout; the WAF log shows the SQL-injection rule matching.",
        ],
        systems: &["waf-cluster", "shop-web"],
        diagnoses: &[
            ("新版规则库对 JSON 参数误判", "为该接口添加精确例外并上报厂商"),
            ("the rule set update treats a JSON field as SQL", "add a narrow exception and report it upstream"),
        ],
        weight: 80,
    },
    Category {
        key: "vulnerability",
        security: true,
        team: "soc",
        titles: &["漏洞扫描发现高危漏洞", "Scanner reports a critical vulnerability", "中间件远程代码执行漏洞", "RCE in the application server"],
        descriptions: &[
            "季度扫描报告显示门户服务器存在高危漏洞，请评估影响并给出修复方案。",
            "The quarterly scan lists a critical finding on the portal server; please assess and fix.",
        ],
        systems: &["portal-web", "app-server-2", "jenkins"],
        diagnoses: &[
            ("中间件版本过旧", "升级到厂商修复版本并复测"),
            ("an outdated library with a known CVE", "upgrade the library, rescan, confirm closed"),
        ],
        weight: 100,
    },
    Category {
        key: "account",
        security: false,
        team: "service",
        titles: &["账号被锁定", "Account locked out", "堡垒机无法登录", "Cannot log in to the bastion host"],
        descriptions: &[
            "运维账号反复被锁定，怀疑有程序使用旧密码尝试登录。",
            "An admin account keeps locking; something seems to retry an old password.",
        ],
        systems: &["ad-dc-1", "bastion", "iam"],
        diagnoses: &[
            ("计划任务仍使用旧密码", "更新计划任务凭据并解锁账号"),
            ("a mapped drive on an old laptop retries the old password", "remove the stale mapping and unlock"),
        ],
        weight: 120,
    },
    Category {
        key: "logging",
        security: false,
        team: "service",
        titles: &["日志审计平台不再收到日志", "SIEM stopped receiving logs"],
        descriptions: &[
            "从昨晚开始日志审计平台没有收到核心交换机的日志。",
            "Since last night the SIEM has no logs from the core switches.",
        ],
        systems: &["siem", "log-collector", "core-switch"],
        diagnoses: &[
            ("采集器磁盘写满", "清理并扩容磁盘，设置容量告警"),
            ("the syslog forwarder lost its TLS trust store", "reinstall the CA bundle and restart the forwarder"),
        ],
        weight: 90,
    },
    Category {
        key: "intrusion",
        security: true,
        team: "soc",
        titles: &["入侵检测告警激增", "IDS alert storm", "疑似 DDoS 攻击，带宽占满", "Suspected DDoS saturates the uplink"],
        descriptions: &[
            "IDS 在一小时内产生上千条扫描告警，来源为境外地址。",
            "The IDS raised over a thousand scan alerts in an hour from foreign addresses.",
            "出口带宽持续 100%，对外网站访问缓慢。",
        ],
        systems: &["ids-sensor", "edge-router", "anti-ddos"],
        diagnoses: &[
            ("外部大规模扫描", "封禁来源、调优签名并持续观察"),
            ("a UDP reflection attack against the web front end", "enable upstream scrubbing and rate limits"),
        ],
        weight: 80,
    },
    Category {
        key: "certificate",
        security: false,
        team: "network",
        titles: &["证书即将过期", "Certificate about to expire"],
        descriptions: &[
            "监控提示官网 HTTPS 证书将在 5 天后过期。",
            "Monitoring says the website's HTTPS certificate expires in five days.",
        ],
        systems: &["www", "api-gateway", "lb-01"],
        diagnoses: &[
            ("自动续签任务失败", "手动续签并修复自动续签任务"),
            ("the ACME client lost DNS permissions", "restore the permission and renew"),
        ],
        weight: 50,
    },
    Category {
        key: "backup",
        security: false,
        team: "service",
        titles: &["备份任务失败", "Backup job failing"],
        descriptions: &[
            "数据库夜间备份连续三天失败。",
            "The nightly database backup has failed three nights in a row.",
        ],
        systems: &["backup-server", "db-primary"],
        diagnoses: &[
            ("备份存储配额已满", "清理过期备份并调整保留策略"),
            ("the backup agent is older than the database", "upgrade the agent and rerun the job"),
        ],
        weight: 50,
    },
];

/// Project managers: (id, name).
pub const PROJECT_MANAGERS: &[(&str, &str)] = &[
    ("li.na", "李娜"),
    ("zhang.wei", "张伟"),
    ("chen.jing", "陈静"),
];

/// Support engineers: (id, name, team).
pub const SUPPORT_ENGINEERS: &[(&str, &str, &str)] = &[
    ("wang.fang", "王芳", "network"),
    ("liu.yang", "刘洋", "network"),
    ("zhao.lei", "赵磊", "network"),
    ("huang.min", "黄敏", "service"),
    ("zhou.jie", "周杰", "service"),
    ("wu.tao", "吴涛", "service"),
    ("xu.li", "徐丽", "service"),
    ("sun.hao", "孙浩", "network"),
    ("ma.chao", "马超", "service"),
    ("zhu.hong", "朱红", "network"),
];

/// Security engineers: (id, name).
pub const SECURITY_ENGINEERS: &[(&str, &str)] = &[
    ("he.jun", "何军"),
    ("gao.yan", "高燕"),
    ("lin.feng", "林峰"),
    ("luo.qiang", "罗强"),
    ("zheng.hui", "郑辉"),
];

/// The auditor: (id, name).
pub const AUDITOR: (&str, &str) = ("qian.audit", "钱审计");

/// Customer organisations: (id, name, tier).
pub const CUSTOMERS: &[(&str, &str, &str)] = &[
    ("hzbank", "杭州城市银行", "premium"),
    ("eastair", "东方航空服务有限公司", "premium"),
    ("sinomed", "华医健康集团", "premium"),
    ("gridco", "State Grid Services Co.", "premium"),
    ("acme", "ACME Corp", "standard"),
    ("lujia", "陆家嘴证券", "standard"),
    ("nanshan", "南山制造", "standard"),
    ("globex", "Globex Logistics", "standard"),
    ("xinda", "信达保险", "standard"),
    ("pearl", "Pearl River Retail", "standard"),
    ("yunhe", "云合科技", "standard"),
    ("tianfu", "天府教育集团", "standard"),
    ("initech", "Initech Software", "basic"),
    ("meili", "美丽电商", "basic"),
    ("baohe", "宝和物业", "basic"),
    ("harbor", "Harbor Freight Shanghai", "basic"),
    ("qingshan", "青山医院", "basic"),
    ("jinhua", "金华纺织", "basic"),
    ("umbrella", "Umbrella Labs", "basic"),
    ("xiaoyu", "小鱼餐饮", "basic"),
];

/// Given names for customer contacts.
pub const CONTACT_NAMES: &[&str] = &[
    "刘建国",
    "Anna Schmidt",
    "王小明",
    "David Chen",
    "李秀英",
    "Maria Garcia",
    "张磊",
    "Tom Walker",
    "陈晓燕",
    "Yuki Tanaka",
    "杨帆",
    "Priya Nair",
];

/// Questions staff ask customers.
pub const QUESTIONS: &[&str] = &[
    "请提供出现问题的时间段和受影响的用户数量。",
    "Which client version and operating system are affected?",
    "请导出最近 24 小时的相关日志并上传。",
    "Can you share a screenshot of the error?",
];

/// Customer replies.
pub const REPLIES: &[&str] = &[
    "已上传日志，影响约 30 名用户。",
    "Windows 11 with client 4.10; screenshot attached.",
    "问题从昨天 14:00 开始，至今仍存在。",
    "Only the Shanghai office is affected.",
];

/// Reasons customers give for rejecting a fix.
pub const REJECTIONS: &[&str] = &[
    "问题仍然存在，部分用户还是无法访问。",
    "The error came back this morning.",
];

/// Improvement actions after a poor score.
pub const IMPROVEMENTS: &[&str] = &[
    "回访客户并将该类问题纳入值班手册",
    "Add a first-response checklist for this category and review it with the team",
    "缩短高优先级工单的升级时限",
];

/// Satisfaction comments.
pub const COMMENTS: &[&str] = &[
    "处理及时，谢谢！",
    "Quick and clear, thanks.",
    "",
    "希望能更早通知进展。",
];
