using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace Archestra.Gateway.Metrics;

/// <summary>
/// Tool calls and LLM requests of the last minute on this gateway, and how many of them failed, for the console's
/// overview (<c>GET /api/status</c>, <c>rates</c>). It listens to the <c>mcp_tool_calls</c> and <c>llm_requests</c>
/// counters of the gateway's meter, so the hot paths stay as they are, and counts into 60 one-second buckets. A count
/// that races with its bucket's reset at a second boundary may be lost: the figures are for people, not for billing
/// (the audit rows and the Prometheus counters are exact).
/// </summary>
internal sealed class LiveRates : IDisposable
{
    public const int WindowSeconds = 60;

    private readonly Meter _meter;
    private readonly MeterListener _listener = new();
    private readonly Bucket[] _buckets = new Bucket[WindowSeconds];

    private enum Series
    {
        ToolCalls,
        ToolCallErrors,
        LlmRequests,
        LlmErrors,
    }

    private sealed class Bucket
    {
        public long Second = -1;
        public readonly long[] Counts = new long[4];
    }

    public LiveRates(Meter meter)
    {
        _meter = meter;
        for (var i = 0; i < _buckets.Length; i++)
        {
            _buckets[i] = new Bucket();
        }

        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (ReferenceEquals(instrument.Meter, _meter) && instrument.Name is "mcp_tool_calls" or "llm_requests")
            {
                listener.EnableMeasurementEvents(instrument);
            }
        };
        _listener.SetMeasurementEventCallback<long>(OnMeasurement);
        _listener.Start();
    }

    /// <summary>The counts of the last <see cref="WindowSeconds"/> seconds.</summary>
    public Snapshot Read()
    {
        var now = Now();
        var sums = new long[4];
        foreach (var bucket in _buckets)
        {
            var second = Volatile.Read(ref bucket.Second);
            if (second > now - WindowSeconds && second <= now)
            {
                for (var i = 0; i < sums.Length; i++)
                {
                    sums[i] += Interlocked.Read(ref bucket.Counts[i]);
                }
            }
        }

        return new Snapshot(sums[0], sums[1], sums[2], sums[3]);
    }

    /// <summary>Counts of one window: calls and their failures (any outcome or status other than <c>ok</c>).</summary>
    public readonly record struct Snapshot(long ToolCalls, long ToolCallErrors, long LlmRequests, long LlmErrors);

    private static long Now() => Stopwatch.GetTimestamp() / Stopwatch.Frequency;

    private void OnMeasurement(Instrument instrument, long value, ReadOnlySpan<KeyValuePair<string, object?>> tags, object? state)
    {
        var llm = instrument.Name == "llm_requests";
        var failed = false;
        foreach (var tag in tags)
        {
            if (tag.Key is "outcome" or "status")
            {
                failed = tag.Value as string != "ok";
                break;
            }
        }

        var bucket = Current();
        Interlocked.Add(ref bucket.Counts[(int)(llm ? Series.LlmRequests : Series.ToolCalls)], value);
        if (failed)
        {
            Interlocked.Add(ref bucket.Counts[(int)(llm ? Series.LlmErrors : Series.ToolCallErrors)], value);
        }
    }

    /// <summary>This second's bucket, emptied first when it last held an older second.</summary>
    private Bucket Current()
    {
        var now = Now();
        var bucket = _buckets[now % WindowSeconds];
        var second = Volatile.Read(ref bucket.Second);
        if (second != now && Interlocked.CompareExchange(ref bucket.Second, now, second) == second)
        {
            for (var i = 0; i < bucket.Counts.Length; i++)
            {
                Interlocked.Exchange(ref bucket.Counts[i], 0);
            }
        }

        return bucket;
    }

    public void Dispose() => _listener.Dispose();
}
