using System.Runtime.InteropServices;
using Archestra.Gateway.Mcp;
using Microsoft.Extensions.Logging;

namespace Archestra.Gateway.Configuration;

/// <summary>
/// Re-reads the configuration file on SIGHUP and when the file changes, and applies what can change
/// in a running gateway: policies and per-tool settings. An invalid file changes nothing; its errors are
/// logged and the running configuration stays. Polling the file's time and size (not a filesystem
/// watcher) also catches editors and ConfigMap updates that replace the file instead of writing it.
/// </summary>
internal sealed partial class ConfigReloader : IAsyncDisposable
{
    private readonly string _path;
    private readonly Func<string, string?> _getEnv;
    private readonly McpGateway _gateway;
    private readonly ILogger _logger;
    private readonly Lock _gate = new();
    private readonly CancellationTokenSource _stop = new();
    private readonly PosixSignalRegistration? _sighup;
    private readonly Task _poll;
    private (DateTime Time, long Length) _seen;

    public ConfigReloader(string path, Func<string, string?> getEnv, McpGateway gateway, ILogger logger, TimeSpan pollInterval)
    {
        _path = path;
        _getEnv = getEnv;
        _gateway = gateway;
        _logger = logger;
        _seen = Stamp(path);
        if (!OperatingSystem.IsWindows())
        {
            _sighup = PosixSignalRegistration.Create(PosixSignal.SIGHUP, context =>
            {
                // Handled: the default action of SIGHUP would end the process.
                context.Cancel = true;
                _ = Task.Run(Reload);
            });
        }

        _poll = PollAsync(pollInterval);
    }

    /// <summary>Loads the file and applies it; the errors when it is invalid (then nothing changed).</summary>
    public IReadOnlyList<string> Reload()
    {
        lock (_gate)
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

            _gateway.ApplyPolicies(result.Config.Policies);
            LogReloaded(_logger, _path, result.Config.Policies.PolicyCount);
            return [];
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
                    Reload();
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
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
    }

    [LoggerMessage(1101, LogLevel.Information, "Reloaded {Path}: {Count} policies and the tool settings apply to new calls; changes to servers, profiles' servers and tokens, listen addresses, limits and security apply at the next restart")]
    private static partial void LogReloaded(ILogger logger, string path, int count);

    [LoggerMessage(1102, LogLevel.Error, "Configuration not reloaded, the running one stays: {Error}")]
    private static partial void LogInvalid(ILogger logger, string error);
}
