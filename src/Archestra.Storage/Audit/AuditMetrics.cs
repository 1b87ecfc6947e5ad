using System.Diagnostics.Metrics;
using System.Text;
using Archestra.Runtime.Diagnostics;

namespace Archestra.Storage;

/// <summary>
/// The audit writer's metrics, on the <c>Archestra.Gateway.Audit</c> meter and rendered for Prometheus through
/// <see cref="IPrometheusSource"/> (the gateway registers it with its metrics endpoint). Names follow the gateway's:
/// instrument names without the <c>_total</c>/unit suffixes Prometheus adds.
/// </summary>
public sealed class AuditMetrics : IPrometheusSource, IDisposable
{
    public const string MeterName = "Archestra.Gateway.Audit";

    /// <summary>Batch write times: 0.5 ms (a small SQLite batch) to 10 s (a stalled database), ~1-2.5-5 per decade.</summary>
    internal static readonly double[] BatchBuckets = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

    private const string QueueDepthHelp = "Audit records waiting in memory for the writer.";
    private const string WrittenHelp = "Audit records written to the database (including replays from the spill).";
    private const string SpilledHelp = "Audit records appended to the local spill file (database down or queue full).";
    private const string ErrorsHelp = "Failed audit batch writes to the database.";
    private const string BatchHelp = "Time to write one audit batch to the database, in seconds.";

    private readonly Meter _meter;
    private readonly Counter<long> _written;
    private readonly Counter<long> _spilled;
    private readonly Counter<long> _errors;
    private readonly Histogram<double> _batchDuration;
    private long _writtenCount;
    private long _spilledCount;
    private long _errorCount;
    private readonly HistogramCell _batchCell = new(BatchBuckets);
    private Func<long> _queueDepth = static () => 0;

    public AuditMetrics()
    {
        _meter = new Meter(MeterName, typeof(AuditMetrics).Assembly.GetName().Version?.ToString(3));
        _written = _meter.CreateCounter<long>("archestra_audit_records_written", "{record}", WrittenHelp);
        _spilled = _meter.CreateCounter<long>("archestra_audit_spilled", "{record}", SpilledHelp);
        _errors = _meter.CreateCounter<long>("archestra_audit_write_errors", "{error}", ErrorsHelp);
        _batchDuration = _meter.CreateHistogram(
            "archestra_audit_batch_duration",
            "s",
            BatchHelp,
            tags: null,
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = BatchBuckets }
        );
        _meter.CreateObservableGauge("archestra_audit_queue_depth", () => QueueDepth, "{record}", QueueDepthHelp);
    }

    public Meter Meter => _meter;

    public long QueueDepth => _queueDepth();

    public long Written => Interlocked.Read(ref _writtenCount);

    public long Spilled => Interlocked.Read(ref _spilledCount);

    public long WriteErrors => Interlocked.Read(ref _errorCount);

    internal void BindQueue(Func<long> depth) => _queueDepth = depth;

    internal void RecordWritten(int count, double seconds)
    {
        Interlocked.Add(ref _writtenCount, count);
        _batchCell.Observe(seconds);
        if (_written.Enabled)
        {
            _written.Add(count);
        }

        if (_batchDuration.Enabled)
        {
            _batchDuration.Record(seconds);
        }
    }

    internal void RecordSpilled(int count)
    {
        Interlocked.Add(ref _spilledCount, count);
        if (_spilled.Enabled)
        {
            _spilled.Add(count);
        }
    }

    internal void RecordError()
    {
        Interlocked.Increment(ref _errorCount);
        if (_errors.Enabled)
        {
            _errors.Add(1);
        }
    }

    public void WritePrometheus(StringBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        PrometheusText.Family(builder, "archestra_audit_queue_depth", QueueDepthHelp, "gauge");
        PrometheusText.Sample(builder, "archestra_audit_queue_depth", "", QueueDepth);
        PrometheusText.Family(builder, "archestra_audit_records_written_total", WrittenHelp, "counter");
        PrometheusText.Sample(builder, "archestra_audit_records_written_total", "", Written);
        PrometheusText.Family(builder, "archestra_audit_spilled_total", SpilledHelp, "counter");
        PrometheusText.Sample(builder, "archestra_audit_spilled_total", "", Spilled);
        PrometheusText.Family(builder, "archestra_audit_write_errors_total", ErrorsHelp, "counter");
        PrometheusText.Sample(builder, "archestra_audit_write_errors_total", "", WriteErrors);

        const string name = "archestra_audit_batch_duration_seconds";
        PrometheusText.Family(builder, name, BatchHelp, "histogram");
        var (cumulative, sum) = _batchCell.Snapshot();
        for (var i = 0; i < cumulative.Length; i++)
        {
            var le = i < BatchBuckets.Length ? BatchBuckets[i].ToString("0.##########", System.Globalization.CultureInfo.InvariantCulture) : "+Inf";
            PrometheusText.Sample(builder, name + "_bucket", "{le=\"" + le + "\"}", cumulative[i]);
        }

        PrometheusText.Sample(builder, name + "_sum", "", sum);
        PrometheusText.Sample(builder, name + "_count", "", cumulative[^1]);
    }

    public void Dispose() => _meter.Dispose();
}
