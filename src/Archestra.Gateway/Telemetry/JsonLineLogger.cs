using System.Buffers;
using System.Diagnostics;
using System.Text.Json;
using System.Threading.Channels;

namespace Archestra.Gateway.Telemetry;

/// <summary>
/// <c>ARCHESTRA_LOG_FORMAT=json</c>: one JSON object a line (timestamp, level, category, message, trace_id and span_id
/// of the current span, event id, exception), for log pipelines that parse lines. Lines go through a bounded queue to
/// one writer, like the console logger: a blocked stdout drops lines instead of stalling requests.
/// </summary>
internal sealed class JsonLineLoggerProvider : ILoggerProvider
{
    /// <summary>Lines waiting for the writer; the console logger's default queue length is 2500 too.</summary>
    private const int QueueLength = 2500;

    private static readonly Lazy<JsonLineLoggerProvider> s_stdout = new(() => new JsonLineLoggerProvider(Console.OpenStandardOutput()));

    private readonly Channel<byte[]> _lines = Channel.CreateBounded<byte[]>(
        new BoundedChannelOptions(QueueLength) { FullMode = BoundedChannelFullMode.DropWrite, SingleReader = true }
    );
    private readonly Stream _output;

    internal JsonLineLoggerProvider(Stream output)
    {
        _output = output;
        _ = Task.Run(WriteAsync);
    }

    /// <summary>One writer for the process: the three listeners' hosts share it.</summary>
    public static JsonLineLoggerProvider Stdout => s_stdout.Value;

    public ILogger CreateLogger(string categoryName) => new JsonLineLogger(categoryName, this);

    internal void Enqueue(byte[] line) => _lines.Writer.TryWrite(line);

    private async Task WriteAsync()
    {
        await foreach (var line in _lines.Reader.ReadAllAsync().ConfigureAwait(false))
        {
            try
            {
                await _output.WriteAsync(line).ConfigureAwait(false);
                if (_lines.Reader.Count == 0)
                {
                    await _output.FlushAsync().ConfigureAwait(false);
                }
            }
            catch (IOException)
            {
                // stdout closed: nothing to log to.
            }
        }
    }

    /// <summary>The shared provider lives as long as the process; the hosts dispose their factories, not this.</summary>
    public void Dispose() { }

    private sealed class JsonLineLogger(string category, JsonLineLoggerProvider provider) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel != LogLevel.None;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (!IsEnabled(logLevel))
            {
                return;
            }

            var buffer = new ArrayBufferWriter<byte>(256);
            using (var w = new Utf8JsonWriter(buffer))
            {
                w.WriteStartObject();
                w.WriteString("timestamp"u8, DateTime.UtcNow);
                w.WriteString("level"u8, Level(logLevel));
                w.WriteString("category"u8, category);
                w.WriteString("message"u8, formatter(state, exception));
                if (eventId.Id != 0)
                {
                    w.WriteNumber("event_id"u8, eventId.Id);
                }

                if (Activity.Current is { } activity)
                {
                    w.WriteString("trace_id"u8, activity.TraceId.ToHexString());
                    w.WriteString("span_id"u8, activity.SpanId.ToHexString());
                }

                if (exception is not null)
                {
                    w.WriteString("exception"u8, exception.ToString());
                }

                w.WriteEndObject();
            }

            buffer.Write("\n"u8);
            provider.Enqueue(buffer.WrittenSpan.ToArray());
        }

        private static string Level(LogLevel level) =>
            level switch
            {
                LogLevel.Trace => "trace",
                LogLevel.Debug => "debug",
                LogLevel.Information => "information",
                LogLevel.Warning => "warning",
                LogLevel.Error => "error",
                _ => "critical",
            };
    }
}
