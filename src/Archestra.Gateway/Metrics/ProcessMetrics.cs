using System.Diagnostics;
using System.Globalization;
using System.Text;

namespace Archestra.Gateway.Metrics;

/// <summary>
/// The standard process_* metrics (names and meanings as in the Prometheus client libraries) and a
/// few dotnet_* runtime metrics. Linux values come from /proc/self; elsewhere the ones without a
/// portable source are omitted rather than reported as zero.
/// </summary>
internal static class ProcessMetrics
{
    private static readonly double s_startTimeSeconds = ReadStartTime();

    public static void Write(StringBuilder builder)
    {
        PrometheusExporter.Family(builder, "process_cpu_seconds_total", "Total user and system CPU time spent in seconds.", "counter");
        PrometheusExporter.Sample(builder, "process_cpu_seconds_total", "", Environment.CpuUsage.TotalTime.TotalSeconds);

        var (virtualBytes, residentBytes) = ReadMemory();
        if (virtualBytes >= 0)
        {
            PrometheusExporter.Family(builder, "process_virtual_memory_bytes", "Virtual memory size in bytes.", "gauge");
            PrometheusExporter.Sample(builder, "process_virtual_memory_bytes", "", virtualBytes);
        }

        PrometheusExporter.Family(builder, "process_resident_memory_bytes", "Resident memory size in bytes.", "gauge");
        PrometheusExporter.Sample(builder, "process_resident_memory_bytes", "", residentBytes);

        PrometheusExporter.Family(builder, "process_start_time_seconds", "Start time of the process since unix epoch in seconds.", "gauge");
        PrometheusExporter.Sample(builder, "process_start_time_seconds", "", s_startTimeSeconds);

        if (OperatingSystem.IsLinux())
        {
            var open = CountOpenFds();
            if (open >= 0)
            {
                PrometheusExporter.Family(builder, "process_open_fds", "Number of open file descriptors.", "gauge");
                PrometheusExporter.Sample(builder, "process_open_fds", "", open);
            }

            var max = ReadMaxFds();
            if (max >= 0)
            {
                PrometheusExporter.Family(builder, "process_max_fds", "Maximum number of open file descriptors.", "gauge");
                PrometheusExporter.Sample(builder, "process_max_fds", "", max);
            }
        }

        PrometheusExporter.Family(builder, "dotnet_gc_collections_total", "Garbage collections since the process started, by generation.", "counter");
        for (var generation = 0; generation <= GC.MaxGeneration; generation++)
        {
            var labels = new PrometheusExporter.LabelSet(0).Add("generation", generation.ToString(CultureInfo.InvariantCulture)).ToString();
            PrometheusExporter.Sample(builder, "dotnet_gc_collections_total", labels, GC.CollectionCount(generation));
        }

        PrometheusExporter.Family(builder, "dotnet_gc_heap_bytes", "Bytes currently allocated on the managed heap.", "gauge");
        PrometheusExporter.Sample(builder, "dotnet_gc_heap_bytes", "", GC.GetTotalMemory(forceFullCollection: false));

        PrometheusExporter.Family(builder, "dotnet_gc_allocated_bytes_total", "Bytes allocated on the managed heap since the process started.", "counter");
        PrometheusExporter.Sample(builder, "dotnet_gc_allocated_bytes_total", "", GC.GetTotalAllocatedBytes(precise: false));

        PrometheusExporter.Family(builder, "dotnet_gc_pause_seconds_total", "Time the runtime was paused for garbage collection, in seconds.", "counter");
        PrometheusExporter.Sample(builder, "dotnet_gc_pause_seconds_total", "", GC.GetTotalPauseDuration().TotalSeconds);

        PrometheusExporter.Family(builder, "dotnet_threadpool_threads", "Thread pool threads that currently exist.", "gauge");
        PrometheusExporter.Sample(builder, "dotnet_threadpool_threads", "", ThreadPool.ThreadCount);

        PrometheusExporter.Family(builder, "dotnet_threadpool_queue_length", "Work items queued to the thread pool and not yet started.", "gauge");
        PrometheusExporter.Sample(builder, "dotnet_threadpool_queue_length", "", ThreadPool.PendingWorkItemCount);
    }

    private static double ReadStartTime()
    {
        using var process = Process.GetCurrentProcess();
        return new DateTimeOffset(process.StartTime.ToUniversalTime()).ToUnixTimeMilliseconds() / 1000.0;
    }

    /// <summary>Virtual (-1 when unknown) and resident bytes.</summary>
    private static (long Virtual, long Resident) ReadMemory()
    {
        if (OperatingSystem.IsLinux())
        {
            try
            {
                // /proc/self/statm: "size resident shared text lib data dt", all in pages (proc(5)).
                var statm = File.ReadAllText("/proc/self/statm").AsSpan();
                var firstSpace = statm.IndexOf(' ');
                var rest = statm[(firstSpace + 1)..];
                var secondSpace = rest.IndexOf(' ');
                if (
                    firstSpace > 0
                    && secondSpace > 0
                    && long.TryParse(statm[..firstSpace], NumberStyles.None, CultureInfo.InvariantCulture, out var size)
                    && long.TryParse(rest[..secondSpace], NumberStyles.None, CultureInfo.InvariantCulture, out var resident)
                )
                {
                    long page = Environment.SystemPageSize;
                    return (size * page, resident * page);
                }
            }
            catch (IOException) { }
        }

        return (-1, Environment.WorkingSet);
    }

    private static int CountOpenFds()
    {
        try
        {
            var count = 0;
            foreach (var _ in Directory.EnumerateFileSystemEntries("/proc/self/fd"))
            {
                count++;
            }

            return count;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return -1;
        }
    }

    private static long ReadMaxFds()
    {
        try
        {
            // "Max open files            1024                 1048576              files"; the soft limit is what open() hits.
            foreach (var line in File.ReadLines("/proc/self/limits"))
            {
                if (!line.StartsWith("Max open files", StringComparison.Ordinal))
                {
                    continue;
                }

                var fields = line["Max open files".Length..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
                return fields.Length > 0 && long.TryParse(fields[0], NumberStyles.None, CultureInfo.InvariantCulture, out var soft) ? soft : -1;
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }

        return -1;
    }
}
