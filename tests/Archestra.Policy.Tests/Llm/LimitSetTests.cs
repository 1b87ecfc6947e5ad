using Archestra.Policy.Llm;

namespace Archestra.Policy.Tests.Llm;

public class LimitSetTests
{
    private static readonly DateTime Now = new(2026, 11, 21, 15, 30, 0, DateTimeKind.Utc);

    private static UsageTotals Totals(
        long dayTokens = 0,
        decimal dayUsd = 0,
        long monthTokens = 0,
        decimal monthUsd = 0,
        long totalTokens = 0,
        decimal totalUsd = 0
    ) => new(new PeriodUsage(dayTokens, dayUsd), new PeriodUsage(monthTokens, monthUsd), new PeriodUsage(totalTokens, totalUsd));

    public static TheoryData<LimitKind, LimitPeriod, decimal, UsageTotals, string?> Cases =>
        new()
        {
            {
                LimitKind.Tokens,
                LimitPeriod.Day,
                1_000_000,
                Totals(dayTokens: 1_203_455),
                "profile p has used 1,203,455 of its 1,000,000 tokens per day (resets 2026-11-22 00:00 UTC)"
            },
            { LimitKind.Tokens, LimitPeriod.Day, 1_000_000, Totals(dayTokens: 999_999, monthTokens: 5_000_000), null },
            {
                LimitKind.Tokens,
                LimitPeriod.Day,
                1_000_000,
                Totals(dayTokens: 1_000_000),
                "profile p has used 1,000,000 of its 1,000,000 tokens per day (resets 2026-11-22 00:00 UTC)"
            },
            {
                LimitKind.Usd,
                LimitPeriod.Month,
                10,
                Totals(monthUsd: 12.3456m),
                "profile p has used $12.3456 of its $10.00 USD per month (resets 2026-12-01 00:00 UTC)"
            },
            { LimitKind.Usd, LimitPeriod.Month, 10, Totals(dayUsd: 11, monthUsd: 9.99m), null },
            {
                LimitKind.Usd,
                LimitPeriod.Total,
                1_500,
                Totals(totalUsd: 1_500.5m),
                "profile p has used $1,500.50 of its $1,500.00 USD in total (does not reset)"
            },
            { LimitKind.Tokens, LimitPeriod.Total, 0, Totals(), "profile p has used 0 of its 0 tokens in total (does not reset)" },
        };

    [Theory]
    [MemberData(nameof(Cases))]
    public void A_used_up_limit_refuses_with_a_message_naming_it(LimitKind kind, LimitPeriod period, decimal value, UsageTotals totals, string? message)
    {
        var limit = new LimitDefinition("l1", "p", kind, period, value);
        var check = LimitSet.Create([limit]).Evaluate("p", totals, Now);
        Assert.Equal(message is null, check.Allowed);
        Assert.Equal(message, check.Message);
        Assert.Equal(message is null ? null : limit, check.Exceeded);
    }

    [Fact]
    public void The_limit_that_lifts_last_is_named()
    {
        var set = LimitSet.Create([
            new LimitDefinition("day", "p", LimitKind.Tokens, LimitPeriod.Day, 10),
            new LimitDefinition("month", "p", LimitKind.Usd, LimitPeriod.Month, 1),
            new LimitDefinition("other", "q", LimitKind.Tokens, LimitPeriod.Total, 0),
        ]);
        var check = set.Evaluate("p", Totals(dayTokens: 50, monthUsd: 2), Now);
        Assert.Equal("month", check.Exceeded?.Id);
        Assert.Equal(new DateTime(2026, 12, 1, 0, 0, 0, DateTimeKind.Utc), check.ResetsAtUtc);
        Assert.True(set.Evaluate("nobody", Totals(totalTokens: long.MaxValue), Now).Allowed);
        Assert.Equal(2, set.For("p").Count);
    }

    public static TheoryData<LimitPeriod, DateTime, DateTime, DateTime?> Periods =>
        new()
        {
            {
                LimitPeriod.Day,
                new DateTime(2026, 12, 31, 23, 59, 59, DateTimeKind.Utc),
                new DateTime(2026, 12, 31, 0, 0, 0, DateTimeKind.Utc),
                new DateTime(2027, 1, 1, 0, 0, 0, DateTimeKind.Utc)
            },
            {
                LimitPeriod.Month,
                new DateTime(2028, 2, 29, 12, 0, 0, DateTimeKind.Utc),
                new DateTime(2028, 2, 1, 0, 0, 0, DateTimeKind.Utc),
                new DateTime(2028, 3, 1, 0, 0, 0, DateTimeKind.Utc)
            },
            {
                LimitPeriod.Month,
                new DateTime(2026, 12, 1, 0, 0, 0, DateTimeKind.Utc),
                new DateTime(2026, 12, 1, 0, 0, 0, DateTimeKind.Utc),
                new DateTime(2027, 1, 1, 0, 0, 0, DateTimeKind.Utc)
            },
            { LimitPeriod.Total, new DateTime(2026, 1, 1, 0, 0, 0, DateTimeKind.Utc), DateTime.MinValue, null },
        };

    [Theory]
    [MemberData(nameof(Periods))]
    public void Periods_are_utc_days_and_calendar_months(LimitPeriod period, DateTime now, DateTime start, DateTime? end)
    {
        Assert.Equal(start, LimitPeriods.Start(period, now));
        Assert.Equal(end, LimitPeriods.End(period, now));
    }

    [Fact]
    public void Invalid_definitions_are_rejected()
    {
        Assert.Throws<ArgumentException>(() => LimitSet.Create([new LimitDefinition("x", "p", LimitKind.Tokens, LimitPeriod.Day, -1)]));
        Assert.Throws<ArgumentException>(() => LimitSet.Create([new LimitDefinition("x", "p", LimitKind.Tokens, LimitPeriod.Day, 1.5m)]));
        Assert.Throws<ArgumentException>(() => LimitSet.Create([new LimitDefinition("x", "", LimitKind.Usd, LimitPeriod.Day, 1)]));
    }
}
