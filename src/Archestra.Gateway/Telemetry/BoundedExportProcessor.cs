using System.Diagnostics;
using System.Text;
using System.Threading.Channels;
using Archestra.Runtime.Diagnostics;
using OpenTelemetry;

namespace Archestra.Gateway.Telemetry;

/// <summary>
/// Hands finished spans to the exporter from a bounded queue on one background thread. A request only ever tries
/// to enqueue: a full queue drops the span and counts it, so a slow or unreachable collector costs spans, never
/// latency. The SDK's batch processor does the same but keeps its drop count to itself; this one is exposed as
/// <c>archestra_telemetry_spans_dropped_total</c>.
/// </summary>
internal sealed class BoundedExportProcessor : BaseExportProcessor<Activity>, IPrometheusSource
{
    /// <summary>Spans per export call: the OpenTelemetry SDK's OTEL_BSP_MAX_EXPORT_BATCH_SIZE default.</summary>
    internal const int MaxBatch = 512;

    /// <summary>How long spans wait for a fuller batch: the SDK's OTEL_BSP_SCHEDULE_DELAY default is 5 s; 1 s shows traces sooner.</summary>
    private static readonly TimeSpan s_delay = TimeSpan.FromSeconds(1);

    private readonly BaseExporter<Activity> _exporter;
    private readonly Channel<Activity> _queue;
    private readonly Thread _thread;
    private long _dropped;
    private long _failed;
    private long _exported;

    /// <remarks>A <see cref="BaseExportProcessor{T}"/>, so the exporter learns the provider's resource (service.name).</remarks>
    public BoundedExportProcessor(BaseExporter<Activity> exporter, int capacity)
        : base(exporter)
    {
        _exporter = exporter;
        _queue = Channel.CreateBounded<Activity>(
            new BoundedChannelOptions(capacity)
            {
                FullMode = BoundedChannelFullMode.Wait,
                SingleReader = true,
                AllowSynchronousContinuations = false,
            }
        );

        // A thread of its own: the OTLP exporter's Export blocks for up to its timeout, which must not hold a pool thread.
        _thread = new Thread(Run) { IsBackground = true, Name = "archestra-otlp-export" };
        _thread.Start();
    }

    public long Dropped => Interlocked.Read(ref _dropped);

    public long Failed => Interlocked.Read(ref _failed);

    public long Exported => Interlocked.Read(ref _exported);

    /// <summary>Called for recorded spans only (the base class filters).</summary>
    protected override void OnExport(Activity data)
    {
        // With FullMode = Wait, TryWrite never waits: it answers false when the queue is full.
        if (!_queue.Writer.TryWrite(data))
        {
            Interlocked.Increment(ref _dropped);
        }
    }

    private void Run()
    {
        var batch = new Activity[MaxBatch];
        var reader = _queue.Reader;
        while (true)
        {
            var count = 0;
            try
            {
                if (!reader.WaitToReadAsync().AsTask().GetAwaiter().GetResult())
                {
                    return;
                }

                var deadline = Stopwatch.GetTimestamp() + (long)(s_delay.TotalSeconds * Stopwatch.Frequency);
                while (count < MaxBatch)
                {
                    if (reader.TryRead(out var span))
                    {
                        batch[count++] = span;
                        continue;
                    }

                    var left = deadline - Stopwatch.GetTimestamp();
                    if (left <= 0 || reader.Completion.IsCompleted)
                    {
                        break;
                    }

                    using var wait = new CancellationTokenSource(TimeSpan.FromSeconds((double)left / Stopwatch.Frequency));
                    try
                    {
                        if (!reader.WaitToReadAsync(wait.Token).AsTask().GetAwaiter().GetResult())
                        {
                            break;
                        }
                    }
                    catch (OperationCanceledException)
                    {
                        break;
                    }
                }

                Export(batch, count);
            }
            finally
            {
                Array.Clear(batch, 0, count);
            }
        }
    }

    private void Export(Activity[] batch, int count)
    {
        if (count == 0)
        {
            return;
        }

        ExportResult result;
        try
        {
            result = _exporter.Export(new Batch<Activity>(batch, count));
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            // An exporter must not throw; if one does, the spans are lost but the export thread goes on.
            result = ExportResult.Failure;
        }

        Interlocked.Add(ref result == ExportResult.Success ? ref _exported : ref _failed, count);
    }

    protected override bool OnForceFlush(int timeoutMilliseconds)
    {
        var deadline = Stopwatch.GetTimestamp() + (long)(timeoutMilliseconds / 1000.0 * Stopwatch.Frequency);
        while (_queue.Reader.Count > 0 && Stopwatch.GetTimestamp() < deadline)
        {
            Thread.Sleep(10);
        }

        return _queue.Reader.Count == 0;
    }

    protected override bool OnShutdown(int timeoutMilliseconds)
    {
        _queue.Writer.TryComplete();
        var joined = _thread.Join(timeoutMilliseconds < 0 ? Timeout.Infinite : timeoutMilliseconds);
        return _exporter.Shutdown(timeoutMilliseconds) && joined;
    }

    public void WritePrometheus(StringBuilder builder)
    {
        const string dropped = "archestra_telemetry_spans_dropped_total";
        PrometheusText.Family(
            builder,
            dropped,
            "Finished spans not exported over OTLP, by reason (queue_full: the export queue was full; export_failed: the collector refused or did not answer).",
            "counter"
        );
        PrometheusText.Sample(builder, dropped, "{reason=\"queue_full\"}", Dropped);
        PrometheusText.Sample(builder, dropped, "{reason=\"export_failed\"}", Failed);
        const string exported = "archestra_telemetry_spans_exported_total";
        PrometheusText.Family(builder, exported, "Spans the OTLP collector accepted.", "counter");
        PrometheusText.Sample(builder, exported, "", Exported);
    }
}
