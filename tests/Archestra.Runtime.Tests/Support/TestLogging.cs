using Microsoft.Extensions.Logging;

namespace Archestra.Runtime.Tests.Support;

/// <summary>Sends log lines to the current test's output, so a failing test shows what the upstream did.</summary>
internal sealed class TestLoggerFactory : ILoggerFactory
{
    public static TestLoggerFactory Instance { get; } = new();

    public ILogger CreateLogger(string categoryName) => new TestLogger(categoryName[(categoryName.LastIndexOf('.') + 1)..]);

    public void AddProvider(ILoggerProvider provider) { }

    public void Dispose() { }

    private sealed class TestLogger(string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            try
            {
                TestContext.Current.TestOutputHelper?.WriteLine(
                    $"{DateTime.UtcNow:HH:mm:ss.fff} {logLevel} {category}: {formatter(state, exception)}{(exception is null ? "" : " " + exception)}"
                );
            }
            catch (InvalidOperationException)
            {
                // Background loops log after their test has finished.
            }
        }
    }
}

/// <summary>Keeps every log line as written (the formatted message and each structured value as a string), and shows it in the test output.</summary>
internal sealed class CapturingLogger : ILogger
{
    private readonly ILogger _output = TestLoggerFactory.Instance.CreateLogger("Captured");
    private readonly System.Collections.Concurrent.ConcurrentQueue<string> _messages = new();
    private readonly System.Collections.Concurrent.ConcurrentQueue<string> _values = new();

    public IReadOnlyCollection<string> Messages => _messages;

    /// <summary>The structured values, as a JSON or OpenTelemetry exporter turns them into text.</summary>
    public IReadOnlyCollection<string> Values => _values;

    public IDisposable? BeginScope<TState>(TState state)
        where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => true;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        _messages.Enqueue(formatter(state, exception));
        if (state is IReadOnlyList<KeyValuePair<string, object?>> pairs)
        {
            foreach (var (_, value) in pairs)
            {
                _values.Enqueue(Convert.ToString(value, System.Globalization.CultureInfo.InvariantCulture) ?? "");
            }
        }

        _output.Log(logLevel, eventId, state, exception, formatter);
    }
}
