"""The paper's weather example (Stahl & Vossen, Tables 1 and 2), as SQL.

Used by ``nyop-pg demo``, the tests and the README. The buyer (an airline)
bids at 17:00 on 7 May 2017; the "LastUpdated" times of the tables are on that
day, so ``SET nyop.now = '2017-05-07 17:00+00'`` reproduces the paper.
"""

PAPER_NOW = "2017-05-07 17:00+00"

TABLES_SQL = """
CREATE TABLE weather_a (
    station text NOT NULL, airpressure int, humidity int, temperature int,
    date date NOT NULL, lastupdated timestamptz NOT NULL,
    PRIMARY KEY (station, date));
INSERT INTO weather_a VALUES
    ('FRA', 1021, 52, 17, '2017-05-08', '2017-05-07 14:00+00'),
    ('FRA', 1020, 43, 19, '2017-05-09', '2017-05-07 15:00+00'),
    ('FRA', 1005, 40, 15, '2017-05-10', '2017-05-07 16:00+00'),
    ('LHR', 1025, 69, 16, '2017-05-08', '2017-05-07 14:00+00'),
    ('LHR', 1008, 65, 14, '2017-05-09', '2017-05-07 15:00+00'),
    ('LHR', 1003, 70, 12, '2017-05-10', '2017-05-07 16:00+00');

CREATE TABLE weather_b (
    station text NOT NULL, airpressure int, humidity int, temperature int,
    windspeed int, cloudage int, precipitation int,
    date date NOT NULL, lastupdated timestamptz NOT NULL,
    PRIMARY KEY (station, date));
INSERT INTO weather_b VALUES
    ('FRA', 1022, NULL, 18,    8,   70,    0, '2017-05-08', '2017-05-07 14:00+00'),
    ('FRA', NULL,   50, 20, NULL,   25,    0, '2017-05-09', '2017-05-07 15:00+00'),
    ('LHR', 1015, NULL, NULL,  23, NULL,   41, '2017-05-08', '2017-05-07 15:00+00'),
    ('LHR', 1004,   79, 13, NULL,   93,   17, '2017-05-09', '2017-05-07 16:00+00'),
    ('AMS', 1021,   59, 13,   16, NULL, NULL, '2017-05-08', '2017-05-07 14:00+00'),
    ('AMS', 1002,   82, 12,   23,   97,   70, '2017-05-09', '2017-05-07 16:00+00');
"""

SUPPORT_TIERS = "ARRAY['E-mail, 48 h response', 'Phone 9-5 and e-mail 24 h response', 'Phone and e-mail 24/7']"

# §5.5: provider A alone — timeliness, amount of data, customer support; κ = (0.5, 0.3, 0.2), P = 1200.
SINGLE_SQL = f"""
SELECT nyop_register_offering('paper_a', 'weather_a', 1200, ARRAY['station', 'date'],
                              last_updated => 'lastupdated', volatility => '24 hours');
SELECT nyop_set_criterion('paper_a', 'timeliness', 0.5);
SELECT nyop_set_criterion('paper_a', 'amount_of_data', 0.3);
SELECT nyop_set_criterion('paper_a', 'customer_support', 0.2, tiers => {SUPPORT_TIERS});
"""

# §5.5, multi-provider: A and B compete in group 'weather' on completeness, amount of data, support.
GROUP_SQL = f"""
SELECT nyop_register_offering(o.name, o.rel, 1200, ARRAY['station', 'date'], last_updated => 'lastupdated',
                              volatility => '24 hours', comparison_group => 'weather')
  FROM (VALUES ('wa', 'weather_a'::regclass), ('wb', 'weather_b'::regclass)) AS o(name, rel);
SELECT nyop_set_criterion(o, 'completeness', 0.5), nyop_set_criterion(o, 'amount_of_data', 0.3),
       nyop_set_criterion(o, 'customer_support', 0.2, tiers => {SUPPORT_TIERS})
  FROM unnest(ARRAY['wa', 'wb']) AS o;
"""

PAPER_BID = {"offering": "paper_a", "bid": 1000,
             "preferences": {"timeliness": 0.35, "amount_of_data": 0.5, "customer_support": 0.15}}


def load(conn, single: bool = True, group: bool = True) -> None:
    """Create Tables 1 and 2 and register the paper's offerings on ``conn``."""
    conn.execute(TABLES_SQL)
    if single:
        conn.execute(SINGLE_SQL)
    if group:
        conn.execute(GROUP_SQL)
