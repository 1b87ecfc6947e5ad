using Microsoft.Extensions.Logging;

namespace Archestra.Runtime.Tests.Support;

/// <summary>Sends log lines to the current test's output, so a failing test shows what the upstream did.</summary>
internal sealed class TestLoggerFactory : ILoggerFactory
{
    public static TestLoggerFactory Instance { get; } = new();

    public ILogger CreateLogger(string categoryName) => new TestLogger(categoryName[(categoryName.LastIndexOf('.') + 1)..]);

    public void AddProvider(ILoggerProvider provider)
    {
    }

    public void Dispose()
    {
    }

    private sealed class TestLogger(string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            try
            {
                TestContext.Current.TestOutputHelper?.WriteLine($"{DateTime.UtcNow:HH:mm:ss.fff} {logLevel} {category}: {formatter(state, exception)}{(exception is null ? "" : " " + exception)}");
            }
            catch (InvalidOperationException)
            {
                // Background loops log after their test has finished.
            }
        }
    }
}
