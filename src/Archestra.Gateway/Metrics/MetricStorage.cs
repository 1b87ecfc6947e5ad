using System.Collections.Concurrent;
using System.Runtime.CompilerServices;

namespace Archestra.Gateway.Metrics;

/// <summary>One monotonically increasing or set-able value.</summary>
internal sealed class MetricCell
{
    private long _value;

    public long Value => Volatile.Read(ref _value);

    public void Increment() => Interlocked.Increment(ref _value);

    public void Add(long value) => Interlocked.Add(ref _value, value);

    public void Set(long value) => Volatile.Write(ref _value, value);
}

/// <summary>
/// Series of one metric family by label values, with a cap on how many exist. Label values such as
/// tool and method names can come from clients, so without a cap a client could grow memory without
/// bound; past the cap new label sets share one overflow series. 2000 is the OpenTelemetry SDK's
/// default cardinality limit per metric.
/// </summary>
internal sealed class SeriesMap<TKey, TValue>
    where TKey : notnull
    where TValue : class
{
    public const int DefaultLimit = 2000;

    private readonly ConcurrentDictionary<TKey, TValue> _series = new();
    private readonly Func<TValue> _create;
    private readonly TKey _overflowKey;
    private readonly int _limit;
    private int _count;

    public SeriesMap(Func<TValue> create, TKey overflowKey, int limit = DefaultLimit)
    {
        _create = create;
        _overflowKey = overflowKey;
        _limit = limit;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public TValue Get(TKey key) => _series.TryGetValue(key, out var value) ? value : Add(key);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private TValue Add(TKey key)
    {
        if (Volatile.Read(ref _count) >= _limit)
        {
            key = _overflowKey;
            if (_series.TryGetValue(key, out var existing))
            {
                return existing;
            }
        }

        var created = _create();
        var actual = _series.GetOrAdd(key, created);
        if (ReferenceEquals(actual, created))
        {
            Interlocked.Increment(ref _count);
        }

        return actual;
    }

    public KeyValuePair<TKey, TValue>[] Snapshot() => _series.ToArray();
}
