using System.Globalization;
using System.Text;

namespace Archestra.Runtime.Diagnostics;

/// <summary>
/// Metrics kept outside the gateway's own (the audit writer's, the LLM proxy's) that its Prometheus endpoint renders
/// after them. Here, below the gateway, so the storage library can offer its metrics without referencing the gateway.
/// </summary>
public interface IPrometheusSource
{
    /// <summary>Appends complete metric families (HELP, TYPE and samples) in the text exposition format.</summary>
    void WritePrometheus(StringBuilder builder);
}

/// <summary>Lines of the Prometheus text exposition format 0.0.4 (https://prometheus.io/docs/instrumenting/exposition_formats/).</summary>
public static class PrometheusText
{
    public static void Family(StringBuilder builder, string name, string help, string type)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(help);
        builder.Append("# HELP ").Append(name).Append(' ');
        foreach (var c in help)
        {
            // HELP text escapes only backslash and newline (quotes are literal there).
            _ = c switch
            {
                '\\' => builder.Append(@"\\"),
                '\n' => builder.Append(@"\n"),
                _ => builder.Append(c),
            };
        }

        builder.Append('\n');
        builder.Append("# TYPE ").Append(name).Append(' ').Append(type).Append('\n');
    }

    public static void Sample(StringBuilder builder, string name, string labels, long value) =>
        builder?.Append(name).Append(labels).Append(' ').Append(value.ToString(CultureInfo.InvariantCulture)).Append('\n');

    public static void Sample(StringBuilder builder, string name, string labels, double value) =>
        builder?.Append(name).Append(labels).Append(' ').Append(FormatValue(value)).Append('\n');

    public static string FormatValue(double value) =>
        double.IsPositiveInfinity(value) ? "+Inf"
        : double.IsNegativeInfinity(value) ? "-Inf"
        : double.IsNaN(value) ? "NaN"
        : value.ToString("R", CultureInfo.InvariantCulture);
}

/// <summary>Fixed-bucket histogram; lock-free observe, consistent-enough snapshot for scraping.</summary>
public sealed class HistogramCell
{
    private readonly double[] _bounds;
    private readonly long[] _counts; // per bucket, not cumulative; the last one is +Inf
    private double _sum;

    public HistogramCell(double[] bounds)
    {
        _bounds = bounds;
        _counts = new long[bounds.Length + 1];
    }

    public void Observe(double value)
    {
        // NaN and negative durations (clock adjustments) would poison the sum forever.
        if (!(value >= 0))
        {
            value = 0;
        }

        var bounds = _bounds;
        var i = 0;
        while (i < bounds.Length && value > bounds[i])
        {
            i++;
        }

        Interlocked.Increment(ref _counts[i]);

        double current,
            updated;
        do
        {
            current = Volatile.Read(ref _sum);
            updated = current + value;
        } while (Interlocked.CompareExchange(ref _sum, updated, current) != current);
    }

    /// <summary>Cumulative bucket counts (last = +Inf = count) and the sum.</summary>
    public (long[] Cumulative, double Sum) Snapshot()
    {
        var cumulative = new long[_counts.Length];
        long running = 0;
        for (var i = 0; i < _counts.Length; i++)
        {
            running += Volatile.Read(ref _counts[i]);
            cumulative[i] = running;
        }

        return (cumulative, Volatile.Read(ref _sum));
    }
}
