using System.Collections.Concurrent;
using System.Diagnostics;
using Archestra.Policy.Llm;
using Archestra.Storage;

namespace Archestra.Gateway.Llm;

/// <summary>
/// Each limited profile's usage, for the budget check before forwarding. The totals come from the audit table,
/// which every replica writes, so replicas share their counts through the database; a query per request would
/// cost a round trip each, so they are cached per profile and re-read at most every <see cref="RefreshInterval"/>.
/// Between reads each response adds its own usage to the cached totals, so a burst is counted before its audit
/// rows are written. Profiles without limits are never queried.
/// </summary>
internal sealed class LlmBudgets
{
    /// <summary>How stale another replica's usage may be here; also the most queries per second per limited profile.</summary>
    internal static readonly TimeSpan RefreshInterval = TimeSpan.FromSeconds(1);

    private readonly ArchestraStore? _store;
    private readonly ILogger _logger;
    private readonly ConcurrentDictionary<string, Entry> _entries = new(StringComparer.Ordinal);

    public LlmBudgets(ArchestraStore? store, ILogger logger)
    {
        _store = store;
        _logger = logger;
    }

    private sealed class Entry
    {
        public readonly Lock Gate = new();
        public UsageTotals Totals;
        public DateTime DayStart;
        public DateTime MonthStart;
        public bool Read;

        /// <summary>When the last read started (0: never, so the first check reads).</summary>
        public long AttemptedAt;
        public Task? Refreshing;
    }

    /// <summary>Whether <paramref name="profile"/> may send another request under <paramref name="limits"/>.</summary>
    public async ValueTask<LimitCheck> CheckAsync(string profile, LimitSet limits, CancellationToken cancellationToken)
    {
        if (limits.For(profile).Count == 0 || _store is null)
        {
            return LimitCheck.Allow;
        }

        var now = DateTime.UtcNow;
        var dayStart = LimitPeriods.Start(LimitPeriod.Day, now);
        var entry = _entries.GetOrAdd(profile, static _ => new Entry());
        Task? wait = null;
        lock (entry.Gate)
        {
            var rolled = entry.Read && entry.DayStart != dayStart;
            if ((rolled || Stopwatch.GetElapsedTime(entry.AttemptedAt) > RefreshInterval) && entry.Refreshing is null)
            {
                entry.AttemptedAt = Stopwatch.GetTimestamp();
                entry.Refreshing = Task.Run(() => RefreshAsync(profile, entry));
            }

            // The first read and a new day wait for the database; otherwise the cached totals answer at once and
            // the refresh lands for the next request.
            if (!entry.Read || rolled)
            {
                wait = entry.Refreshing;
            }
        }

        if (wait is not null)
        {
            await wait.WaitAsync(cancellationToken).ConfigureAwait(false);
        }

        UsageTotals totals;
        lock (entry.Gate)
        {
            totals = entry.Read && entry.DayStart == dayStart ? entry.Totals : default;
        }

        return limits.Evaluate(profile, totals, now);
    }

    /// <summary>Adds one response's usage to the cached totals of <paramref name="profile"/> (when it is limited).</summary>
    public void Add(string profile, long tokens, decimal? cost)
    {
        if (!_entries.TryGetValue(profile, out var entry))
        {
            return;
        }

        var added = new PeriodUsage(tokens, cost ?? 0m);
        lock (entry.Gate)
        {
            var t = entry.Totals;
            entry.Totals = new UsageTotals(Sum(t.Day, added), Sum(t.Month, added), Sum(t.Total, added));
        }
    }

    private async Task RefreshAsync(string profile, Entry entry)
    {
        try
        {
            var now = DateTime.UtcNow;
            var read = await _store!.GetUsageTotalsAsync(profile, now, CancellationToken.None).ConfigureAwait(false);
            var dayStart = LimitPeriods.Start(LimitPeriod.Day, now);
            var monthStart = LimitPeriods.Start(LimitPeriod.Month, now);
            lock (entry.Gate)
            {
                // This process's latest responses may not be in the table yet (the audit writer batches them), so
                // within the same period the larger figure wins; the table catches up within a flush interval.
                var old = entry.Totals;
                var sameDay = entry.Read && entry.DayStart == dayStart;
                var sameMonth = entry.Read && entry.MonthStart == monthStart;
                entry.Totals = new UsageTotals(
                    sameDay ? Max(old.Day, read.Day) : read.Day,
                    sameMonth ? Max(old.Month, read.Month) : read.Month,
                    entry.Read ? Max(old.Total, read.Total) : read.Total
                );
                entry.DayStart = dayStart;
                entry.MonthStart = monthStart;
                entry.Read = true;
            }
        }
        catch (Exception e)
        {
            // The last known totals stay in force; with none, the profile is not refused for want of a count.
            Log.UsageNotRead(_logger, profile, e);
        }
        finally
        {
            lock (entry.Gate)
            {
                entry.Refreshing = null;
            }
        }
    }

    private static PeriodUsage Sum(PeriodUsage a, PeriodUsage b) => new(a.Tokens + b.Tokens, a.Usd + b.Usd);

    private static PeriodUsage Max(PeriodUsage a, PeriodUsage b) => new(Math.Max(a.Tokens, b.Tokens), Math.Max(a.Usd, b.Usd));
}
