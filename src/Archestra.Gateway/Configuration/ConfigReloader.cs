using System.Runtime.InteropServices;
using Archestra.Runtime.Diagnostics;

namespace Archestra.Gateway.Configuration;

/// <summary>
/// Re-reads the configuration file on SIGHUP and when the file changes, and applies it to the running
/// gateway: servers, profiles, tokens, policies and tool settings (listen addresses, limits and security
/// keep their start-up values). An invalid file changes nothing; its errors are logged and the running
/// configuration stays. Polling the file's time and size (not a filesystem
/// watcher) also catches editors and ConfigMap updates that replace the file instead of writing it.
/// </summary>
internal sealed partial class ConfigReloader : IAsyncDisposable
{
    private readonly string _path;
    private readonly Func<string, string?> _getEnv;
    private readonly Func<GatewayConfig, Task> _apply;
    private readonly ILogger _logger;
    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly CancellationTokenSource _stop = new();
    private readonly PosixSignalRegistration? _sighup;
    private readonly Task _poll;
    private (DateTime Time, long Length) _seen;

    public ConfigReloader(string path, Func<string, string?> getEnv, Func<GatewayConfig, Task> apply, ILogger logger, TimeSpan pollInterval)
    {
        _path = path;
        _getEnv = getEnv;
        _apply = apply;
        _logger = logger;
        _seen = Stamp(path);
        if (!OperatingSystem.IsWindows())
        {
            _sighup = PosixSignalRegistration.Create(PosixSignal.SIGHUP, context =>
            {
                // Handled: the default action of SIGHUP would end the process.
                context.Cancel = true;
                _ = Task.Run(ReloadAsync);
            });
        }

        _poll = PollAsync(pollInterval);
    }

    /// <summary>Loads the file and applies it; the errors when it is invalid (then nothing changed).</summary>
    public async Task<IReadOnlyList<string>> ReloadAsync()
    {
        await _gate.WaitAsync().ConfigureAwait(false);
        try
        {
            _seen = Stamp(_path);
            var result = ConfigLoader.Load(_path, _getEnv);
            if (!result.Succeeded)
            {
                foreach (var error in result.Errors)
                {
                    LogInvalid(_logger, error);
                }

                return result.Errors;
            }

            await _apply(result.Config).ConfigureAwait(false);
            LogReloaded(_logger, _path, result.Config.McpServers.Count, result.Config.Profiles.Count, result.Config.Policies.PolicyCount);
            return [];
        }
        finally
        {
            _gate.Release();
        }
    }

    private async Task PollAsync(TimeSpan interval)
    {
        using var timer = new PeriodicTimer(interval);
        try
        {
            while (await timer.WaitForNextTickAsync(_stop.Token).ConfigureAwait(false))
            {
                if (Stamp(_path) != _seen)
                {
                    await ReloadAsync().ConfigureAwait(false);
                }
            }
        }
        catch (OperationCanceledException) { }
    }

    private static (DateTime, long) Stamp(string path)
    {
        try
        {
            var info = new FileInfo(path);
            return info.Exists ? (info.LastWriteTimeUtc, info.Length) : default;
        }
        catch (IOException)
        {
            return default;
        }
    }

    public async ValueTask DisposeAsync()
    {
        _sighup?.Dispose();
        await _stop.CancelAsync().ConfigureAwait(false);
        await _poll.ConfigureAwait(false);
        _stop.Dispose();
        _gate.Dispose();
    }

    [LoggerMessage(
        1101,
        LogLevel.Information,
        "Reloaded {Path}: {Servers} servers, {Profiles} profiles, {Policies} policies; listen addresses, limits and security keep their start-up values"
    )]
    private static partial void LogReloaded(ILogger logger, string path, int servers, int profiles, int policies);

    [LoggerMessage(1102, LogLevel.Error, "Configuration not reloaded, the running one stays: {Error}")]
    private static partial void LogInvalid(ILogger logger, LogText error);
}
