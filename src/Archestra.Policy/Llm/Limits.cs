using System.Collections.Frozen;
using System.Globalization;

namespace Archestra.Policy.Llm;

public enum LimitKind
{
    Tokens,
    Usd,
}

public enum LimitPeriod
{
    /// <summary>A UTC calendar day: [00:00, next 00:00).</summary>
    Day,

    /// <summary>A UTC calendar month: [the 1st 00:00, the next month's 1st 00:00).</summary>
    Month,

    /// <summary>All time; never resets.</summary>
    Total,
}

/// <summary>One budget: <paramref name="Value"/> tokens or USD per <paramref name="Period"/> for <paramref name="Profile"/>.</summary>
public sealed record LimitDefinition(string Id, string Profile, LimitKind Kind, LimitPeriod Period, decimal Value);

/// <summary>Tokens and USD used within one period.</summary>
public readonly record struct PeriodUsage(long Tokens, decimal Usd);

/// <summary>
/// A profile's usage in the current UTC day, the current UTC month and in total, as the store aggregated it
/// (period starts from <see cref="LimitPeriods.Start"/>).
/// </summary>
public readonly record struct UsageTotals(PeriodUsage Day, PeriodUsage Month, PeriodUsage Total)
{
    public PeriodUsage For(LimitPeriod period) =>
        period switch
        {
            LimitPeriod.Day => Day,
            LimitPeriod.Month => Month,
            _ => Total,
        };
}

/// <summary>The answer of <see cref="LimitSet.Evaluate"/>: allowed, or the limit that is used up and why.</summary>
public readonly record struct LimitCheck(bool Allowed, LimitDefinition? Exceeded, decimal Used, DateTime? ResetsAtUtc, string? Message)
{
    public static LimitCheck Allow => new(true, null, 0, null, null);
}

public static class LimitPeriods
{
    /// <summary>The UTC start of the period containing <paramref name="nowUtc"/> (<see cref="DateTime.MinValue"/> for total).</summary>
    public static DateTime Start(LimitPeriod period, DateTime nowUtc) =>
        period switch
        {
            LimitPeriod.Day => new DateTime(nowUtc.Year, nowUtc.Month, nowUtc.Day, 0, 0, 0, DateTimeKind.Utc),
            LimitPeriod.Month => new DateTime(nowUtc.Year, nowUtc.Month, 1, 0, 0, 0, DateTimeKind.Utc),
            _ => DateTime.SpecifyKind(DateTime.MinValue, DateTimeKind.Utc),
        };

    /// <summary>When the period containing <paramref name="nowUtc"/> ends (the limit resets); null for total.</summary>
    public static DateTime? End(LimitPeriod period, DateTime nowUtc) =>
        period switch
        {
            LimitPeriod.Day => Start(period, nowUtc).AddDays(1),
            LimitPeriod.Month => Start(period, nowUtc).AddMonths(1),
            _ => null,
        };
}

/// <summary>
/// The compiled limits of all profiles. A request is refused when any of its profile's limits is already used up
/// (used ≥ value): the request's own cost is not known before it runs, so the check is on what was used so far,
/// and a limit of 0 refuses everything. When several limits are used up, the one that lifts last is named
/// (total, then month, then day; ties in definition order), because that is how long the profile stays blocked.
/// </summary>
public sealed class LimitSet
{
    private readonly FrozenDictionary<string, LimitDefinition[]> _byProfile;

    private LimitSet(FrozenDictionary<string, LimitDefinition[]> byProfile) => _byProfile = byProfile;

    public static LimitSet Empty { get; } = Create([]);

    public static LimitSet Create(IEnumerable<LimitDefinition> definitions)
    {
        ArgumentNullException.ThrowIfNull(definitions);
        var byProfile = new Dictionary<string, List<LimitDefinition>>(StringComparer.Ordinal);
        foreach (var limit in definitions)
        {
            if (string.IsNullOrEmpty(limit.Profile))
            {
                throw new ArgumentException($"limit '{limit.Id}' has no profile", nameof(definitions));
            }

            if (limit.Value < 0 || (limit.Kind == LimitKind.Tokens && limit.Value != decimal.Truncate(limit.Value)))
            {
                throw new ArgumentException($"limit '{limit.Id}' needs a non-negative value (whole for tokens)", nameof(definitions));
            }

            if (!Enum.IsDefined(limit.Kind) || !Enum.IsDefined(limit.Period))
            {
                throw new ArgumentException($"limit '{limit.Id}' has an unknown kind or period", nameof(definitions));
            }

            if (!byProfile.TryGetValue(limit.Profile, out var list))
            {
                byProfile[limit.Profile] = list = [];
            }

            list.Add(limit);
        }

        return new LimitSet(byProfile.ToFrozenDictionary(p => p.Key, p => p.Value.ToArray(), StringComparer.Ordinal));
    }

    /// <summary>The limits of <paramref name="profile"/>, in definition order (empty when it has none).</summary>
    public IReadOnlyList<LimitDefinition> For(string profile) => _byProfile.TryGetValue(profile, out var limits) ? limits : [];

    public LimitCheck Evaluate(string profile, in UsageTotals current, DateTime nowUtc)
    {
        if (!_byProfile.TryGetValue(profile, out var limits))
        {
            return LimitCheck.Allow;
        }

        LimitDefinition? worst = null;
        decimal worstUsed = 0;
        foreach (var limit in limits)
        {
            var usage = current.For(limit.Period);
            var used = limit.Kind == LimitKind.Tokens ? usage.Tokens : usage.Usd;
            if (used >= limit.Value && (worst is null || limit.Period > worst.Period))
            {
                worst = limit;
                worstUsed = used;
            }
        }

        if (worst is null)
        {
            return LimitCheck.Allow;
        }

        var resets = LimitPeriods.End(worst.Period, nowUtc);
        return new LimitCheck(false, worst, worstUsed, resets, Describe(worst, worstUsed, resets));
    }

    // "profile p has used 1,203,455 of its 1,000,000 tokens per day (resets 2026-11-22 00:00 UTC)"
    private static string Describe(LimitDefinition limit, decimal used, DateTime? resets)
    {
        var inv = CultureInfo.InvariantCulture;
        var (usedText, valueText, unit) =
            limit.Kind == LimitKind.Tokens
                ? (used.ToString("N0", inv), limit.Value.ToString("N0", inv), "tokens")
                : ("$" + used.ToString("#,0.00##", inv), "$" + limit.Value.ToString("#,0.00##", inv), "USD");
        var period = limit.Period switch
        {
            LimitPeriod.Day => "per day",
            LimitPeriod.Month => "per month",
            _ => "in total",
        };
        var reset = resets is { } at ? $" (resets {at.ToString("yyyy-MM-dd HH:mm", inv)} UTC)" : " (does not reset)";
        return $"profile {limit.Profile} has used {usedText} of its {valueText} {unit} {period}{reset}";
    }
}
