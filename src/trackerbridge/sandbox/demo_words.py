"""The demo organisation's words: people's names and time zones, teams, titles, initiative and deal names,
accounts, labels, descriptions, slip reasons, comments and learning notes.
"""

from __future__ import annotations

# --------------------------------------------------------------------------------------------
# Word lists

# (first, last, time zone); the first rows are always the first people, so every demo has them.
_CURATED: tuple[tuple[str, str, str], ...] = (
    ("Zoë", "Müller", "Europe/Berlin"),
    ("José", "Álvarez", "Europe/Madrid"),
    ("Ngozi", "Okonkwo", "Africa/Lagos"),
    ("ليلى", "حداد", "Asia/Beirut"),  # a right-to-left name on purpose
    ("Priya", "Raman", "Asia/Kolkata"),
    ("Wei", "Chen", "Asia/Shanghai"),
    ("Haruto", "Tanaka", "Asia/Tokyo"),
    ("Søren", "Nielsen", "Europe/Copenhagen"),
    ("Łukasz", "Nowak", "Europe/Warsaw"),
    ("Amélie", "Dubois", "Europe/Paris"),
    ("Sarah", "O'Brien", "Europe/Dublin"),
    ("Marcus", "Thompson", "America/New_York"),
    ("Linh", "Nguyễn", "Asia/Ho_Chi_Minh"),
    ("Ayşe", "Yılmaz", "Europe/Istanbul"),  # noqa: RUF001 - Turkish dotless i
    ("Ji-woo", "Park", "Asia/Seoul"),
    ("João", "Gonçalves", "America/Sao_Paulo"),
    ("Emily", "Walker", "America/Los_Angeles"),
    ("Chinedu", "Eze", "Africa/Lagos"),
    ("Lucía", "Fernández", "America/Mexico_City"),
    ("Arjun", "Iyer", "Asia/Kolkata"),
    ("Astrid", "Lindqvist", "Europe/Stockholm"),
    ("Omar", "Khoury", "Asia/Dubai"),
    ("Mei", "Lin", "Asia/Singapore"),
    ("Théo", "Lefèvre", "Europe/Paris"),
    ("Katarzyna", "Wójcik", "Europe/Warsaw"),
    ("Daniel", "Cohen", "Asia/Jerusalem"),
    ("Fatima Zahra", "Benali", "Africa/Casablanca"),
    ("Kwame", "Mensah", "Africa/Accra"),
    ("Ingrid", "Hansen", "Europe/Oslo"),
    ("Mateo", "Rossi", "Europe/Rome"),
    ("Anouk", "van der Berg", "Europe/Amsterdam"),
    ("Rohan", "Mehta", "Asia/Kolkata"),
    ("Aiko", "Sato", "Asia/Tokyo"),
    ("Björn", "Åberg", "Europe/Stockholm"),
    ("Grace", "Kim", "America/Toronto"),
    ("Diego", "Muñoz", "America/Santiago"),
    ("Olivia", "Bennett", "Europe/London"),
    ("Siobhán", "Murphy", "Europe/Dublin"),
    ("Ahmed", "Nasser", "Africa/Cairo"),
    ("Chloé", "Martin", "Europe/Brussels"),
)
_ASCII_OVERRIDES = {"ليلى": "layla", "حداد": "haddad"}  # transliterations

# Name pools for people beyond the curated ones: first and last names of one culture stay together.
_NAME_GROUPS: tuple[tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]], ...] = (
    (
        ("Jonas", "Lena", "Lukas", "Anja", "Felix", "Greta", "Jürgen", "Mia"),
        ("Müller", "Schäfer", "Becker", "Wagner", "Köhler", "Fischer", "Weiß", "Hoffmann"),
        ("Europe/Berlin", "Europe/Zurich", "Europe/Vienna"),
    ),
    (
        ("José", "Lucía", "Mateo", "Valentina", "Andrés", "Camila", "Javier", "Sofía"),
        ("Álvarez", "García", "Fernández", "Ortiz", "Muñoz", "Ramírez", "Castillo", "Peña"),
        ("Europe/Madrid", "America/Mexico_City", "America/Bogota", "America/Buenos_Aires"),
    ),
    (
        ("Ngozi", "Chinedu", "Adaeze", "Tunde", "Folake", "Emeka", "Kwame", "Ama"),
        ("Okonkwo", "Adeyemi", "Eze", "Balogun", "Nwosu", "Mensah", "Owusu", "Okafor"),
        ("Africa/Lagos", "Africa/Accra", "Africa/Nairobi"),
    ),
    (
        ("Omar", "Nour", "Youssef", "Rania", "Karim", "Layla", "Hana", "Tariq"),
        ("Haddad", "Khoury", "Mansour", "Saeed", "Nasser", "Aziz", "Farouk", "Salem"),
        ("Asia/Beirut", "Asia/Dubai", "Africa/Cairo", "Asia/Amman"),
    ),
    (
        ("Priya", "Arjun", "Ananya", "Rohan", "Kavya", "Vikram", "Meera", "Aditya"),
        ("Sharma", "Iyer", "Patel", "Reddy", "Menon", "Raman", "Mehta", "Kapoor"),
        ("Asia/Kolkata",),
    ),
    (
        ("Wei", "Mei", "Jun", "Xiu", "Hao", "Ling", "Yan", "Bo"),
        ("Chen", "Wang", "Liu", "Zhang", "Lin", "Huang", "Zhou", "Wu"),
        ("Asia/Shanghai", "Asia/Singapore", "Asia/Taipei"),
    ),
    (
        ("Yuki", "Haruto", "Aiko", "Sora", "Ren", "Hina", "Takumi", "Emi"),
        ("Tanaka", "Sato", "Nakamura", "Kobayashi", "Ito", "Suzuki", "Watanabe", "Yamamoto"),
        ("Asia/Tokyo",),
    ),
    (
        ("Søren", "Astrid", "Magnus", "Ingrid", "Björn", "Freja", "Lars", "Sigrid"),
        ("Nielsen", "Lindqvist", "Hansen", "Åberg", "Johansson", "Berg", "Dahl", "Løvås"),
        ("Europe/Copenhagen", "Europe/Stockholm", "Europe/Oslo", "Europe/Helsinki"),
    ),
    (
        ("Zofia", "Paweł", "Katarzyna", "Łukasz", "Agnieszka", "Tomasz", "Marta", "Piotr"),
        ("Nowak", "Wójcik", "Mazur", "Krawczyk", "Kaczmarek", "Zając", "Król", "Wróbel"),
        ("Europe/Warsaw",),
    ),
    (
        ("Amélie", "Théo", "Chloé", "Hugo", "Inès", "Léa", "Mathis", "Camille"),
        ("Dubois", "Lefèvre", "Moreau", "Girard", "Rousseau", "Martin", "Bernard", "Fontaine"),
        ("Europe/Paris", "Europe/Brussels", "America/Toronto"),
    ),
    (
        ("Sarah", "James", "Emily", "Michael", "Olivia", "Liam", "Grace", "Noah"),
        ("Thompson", "O'Brien", "Walker", "Bennett", "Hughes", "Murphy", "Clarke", "Reid"),
        ("Europe/London", "Europe/Dublin", "America/New_York", "America/Chicago", "Australia/Sydney"),
    ),
    (
        ("Linh", "Minh", "Thảo", "Quang", "Trang", "Huy", "Ngọc", "Bảo"),
        ("Nguyễn", "Trần", "Phạm", "Lê", "Hoàng", "Vũ", "Đặng", "Bùi"),
        ("Asia/Ho_Chi_Minh",),
    ),
    (
        ("Elif", "Emre", "Ayşe", "Can", "Zeynep", "Burak", "Selin", "Mert"),
        ("Yılmaz", "Demir", "Şahin", "Çelik", "Kaya", "Aydın", "Öztürk", "Arslan"),  # noqa: RUF001
        ("Europe/Istanbul",),
    ),
    (
        ("Ji-woo", "Min-jun", "Seo-yeon", "Do-yun", "Ha-eun", "Joon", "Soo-ah", "Hyun"),
        ("Kim", "Park", "Lee", "Choi", "Jung", "Kang", "Yoon", "Han"),
        ("Asia/Seoul",),
    ),
    (
        ("João", "Ana", "Gabriel", "Beatriz", "Rafael", "Larissa", "Thiago", "Marília"),
        ("Silva", "Gonçalves", "Araújo", "Costa", "Pereira", "Rocha", "Barbosa", "Lima"),
        ("America/Sao_Paulo", "Europe/Lisbon"),
    ),
    (
        ("Anouk", "Daan", "Sanne", "Bram", "Fleur", "Ruben", "Lotte", "Joris"),
        ("van der Berg", "de Vries", "Jansen", "Bakker", "Visser", "de Jong", "Smit", "Mulder"),
        ("Europe/Amsterdam",),
    ),
)
_DOTLESS_I = "\u0131"  # Turkish; NFKD leaves it alone
_FOLD = str.maketrans(
    {
        "ø": "o",
        "Ø": "O",
        "ł": "l",
        "Ł": "L",
        "æ": "ae",
        "Æ": "AE",
        "ß": "ss",
        "đ": "d",
        "Đ": "D",
        _DOTLESS_I: "i",
    }
)

_TEAM_WEIGHTS = {
    "Platform": 1.3,
    "Payments": 1.2,
    "Growth": 1.0,
    "Data": 0.9,
    "Mobile": 0.8,
    "Partnerships": 0.8,
}
_TITLES = {
    "Payments": ("Product Manager", "Senior Software Engineer", "Staff Engineer", "Risk Analyst"),
    "Platform": ("Staff Engineer", "Site Reliability Engineer", "Engineering Manager", "Platform Architect"),
    "Growth": ("Account Executive", "Growth Marketing Manager", "Sales Engineer", "Customer Success Manager"),
    "Data": ("Data Engineer", "Analytics Lead", "Data Scientist", "Product Analyst"),
    "Mobile": ("iOS Engineer", "Android Engineer", "Product Designer", "Engineering Manager"),
    "Partnerships": ("Partner Manager", "Account Executive", "Solutions Architect", "Program Manager"),
}
_SALES_TEAMS = ("Growth", "Partnerships")

_ACTIONS = (
    "Migrate billing to ledger v2",
    "Self-serve onboarding",
    "Launch partner API v3",
    "Consolidate payment providers",
    "Automate invoice reconciliation",
    "Roll out usage-based pricing",
    "Sunset legacy reporting",
    "Redesign mobile checkout",
    "Harden fraud scoring",
    "Move the data warehouse to a lakehouse",
    "Enterprise SSO",
    "Localise the customer portal",
    "Streamline KYC checks",
    "Instrument activation funnel",
    "Pilot in-app messaging",
    "Standardise incident response",
    "Replatform search",
    "Introduce feature flags",
    "Expand payout schedules",
    "Retire the monolith's order service",
    "Offline mode for the field app",
    "Customer health score",
    "GDPR data export",
    "Cut cloud spend",
    "Tokenise stored cards",
    "Referral programme",
    "Partner marketplace listings",
    "Real-time tax calculation",
    "Dunning email revamp",
    "Observability stack upgrade",
    "Unify identity service",
    "Event pipeline on Kafka",
    "Android widget",
    "Accessibility audit fixes",
    "SOC 2 evidence automation",
    "Multi-currency settlement",
    "Reduce checkout latency",
    "Churn prediction model",
    "Self-serve plan upgrades",
    "Revamp developer docs",
)
_QUALIFIERS = (
    "",
    "",
    "",
    " for SMB",
    " for enterprise",
    " in DACH",
    " in LATAM",
    " in APAC",
    " (phase 2)",
    " - EU region",
    " for partners",
    " v2",
    " (pilot)",
    " for the US launch",
)
_DELIVERY_ACTIONS = (
    "Platform upgrade",
    "Data residency setup",
    "Regional failover",
    "Internal tooling refresh",
    "Release train hardening",
    "Support runbook overhaul",
    "Capacity planning for peak",
    "Vendor contract migration",
)
_PRODUCTS = (
    "Payments API",
    "Ledger",
    "Analytics add-on",
    "Mobile SDK",
    "Partner portal",
    "Enterprise SSO",
    "Premium support",
    "Data export",
    "Fraud shield",
    "Marketplace listing",
)
_DEAL_KINDS = ("expansion", "renewal", "pilot", "new logo", "500 seats", "EU rollout", "upsell")
_ONBOARD = ("Onboard {a} to {p}", "Deliver {p} for {a}", "{a}: {p} go-live", "Implement {p} at {a}")
_ACCOUNT_STEMS = (
    "Northwind",
    "Blue Harbor",
    "Kestrel",
    "Lumen",
    "Nordlicht",
    "Sakura",
    "Atlas",
    "Meridian",
    "Copperleaf",
    "Halcyon",
    "Orbital",
    "Bright Path",
    "Verdant",
    "Quantix",
    "Solstice",
    "Ironbridge",
    "Pinecrest",
    "Tidewater",
    "Evergreen",
    "Cobalt",
    "Redwood",
    "Aurora",
    "Zenith",
    "Crescent",
    "Müller & Söhne",
    "São Paulo",
    "Café Olé",
    "Fjordline",
    "Kōbe",
    "Łódź",
)
_ACCOUNT_SUFFIXES = (
    ("Logistics", "Manufacturing"),
    ("Health", "Healthcare"),
    ("Bank", "Finance"),
    ("Retail", "Retail"),
    ("Labs", "Technology"),
    ("Insurance", "Finance"),
    ("Systems", "Technology"),
    ("Foods", "Retail"),
    ("Mobility", "Manufacturing"),
    ("Clinics", "Healthcare"),
)
_LEGAL_FORMS = ("", " Inc.", " GmbH", " Ltd", " S.A.", " AB", " K.K.", " B.V.")
_LABELS = (
    "q3-okr",
    "q4-okr",
    "platform",
    "tech-debt",
    "compliance",
    "security",
    "cost-saving",
    "h2-roadmap",
    "exec-visible",
    "pilot",
    "migration",
    "gdpr",
)
_DESCRIPTIONS: tuple[str | None, ...] = (
    None,
    None,
    "Why: customers keep asking for this in QBRs.\n\nScope: see the linked one-pager.",
    "Goal: reduce manual work for the ops team by half.\n\n*Out of scope:* legacy tenants.",
    "Context in the planning doc. Success = adoption by 3 pilot customers.",
    "Dependency on Platform capacity; see risks in the kickoff notes.",
)
_SLIP_REASONS = (
    "Vendor delivered the SDK three weeks late",
    "Customer asked to move the pilot after their freeze",
    "Security review found a blocker",
    "Team lent to the incident response for two sprints",
)

_COMMENTS = (
    "Synced with {n}: blocked on legal review until next week.",
    "Moved the date: the vendor contract slipped.",
    "Decision: we go with option B, see the doc.",
    "Can we get an integrator on this? Payments and Platform both touch it.",
    "Customer asked for a date; told them end of quarter.",
    "Risk: depends on Data team capacity in the next sprint.",
    "{n} is picking this up after the offsite.",
    "Rolled out to 10% of traffic \U0001f680 no errors so far.",
    "Status: on track. Demo on Thursday.",
    "Is this still a priority? Nobody has touched it in weeks.",
)
_LEARNINGS = (
    "Demand was lower than the pilot suggested; we kept the reporting piece.",
    "The vendor could not meet our latency needs. Next time: spike first.",
    "Overlapped with the platform roadmap; merged into the identity work.",
    "Customers preferred the existing flow. Keep the research notes.",
    "Cost outweighed the benefit once usage-based pricing shipped.",
)
_HTML_SUMMARY = 'Fix <script>alert(1)</script> & "quotes" in export'
_LONG_SUMMARY = (  # about 250 characters; Jira allows 255
    "Consolidate regional billing, invoicing and dunning services used by Payments, Growth and "
    "Partnerships into one ledger-backed platform with per-tenant tax rules, multi-currency settlement, "
    "audit trails and a migration path for legacy contracts"
)
