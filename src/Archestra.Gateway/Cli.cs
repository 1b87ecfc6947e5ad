using System.Globalization;
using Archestra.Gateway.Bridge;
using Archestra.Gateway.Configuration;

namespace Archestra.Gateway;

/// <summary>
/// The <c>archestra</c> command line. Hand-written: four commands and one option do not justify a
/// parser library, and this stays trivially AOT-safe.
/// </summary>
public static class Cli
{
    public const int ExitOk = 0;
    public const int ExitInvalidConfig = 1;
    public const int ExitUsage = 2;

    public const string ConfigEnvironmentVariable = "ARCHESTRA_CONFIG";

    internal const string Usage = """
        Usage:
          archestra serve [--config FILE]   run the gateway
          archestra check [--config FILE]   validate a configuration file and exit
          archestra bridge [--listen URL] [--path PATH] [--timeout SECONDS] -- COMMAND [ARGS...]
                                            serve one stdio MCP server as Streamable HTTP
                                            (default http://0.0.0.0:8080/mcp; /healthz, /readyz)
          archestra help                    show this help (also --help, -h)
          archestra --version               print the version

        Options:
          --config FILE, --config=FILE      the JSON configuration file (format: docs/configuration.md)
          -h, --help                        show this help

        Environment:
          ARCHESTRA_CONFIG                  the configuration file when --config is not given
          ARCHESTRA_SESSION_KEY             bridge: signs session ids (give replicas the same one)

        Exit codes: 0 success, 1 invalid configuration, 2 bad command line.
        """;

    /// <summary>Runs the command in <paramref name="args"/> and returns the process exit code.</summary>
    public static Task<int> RunAsync(string[] args) => RunAsync(args, Console.Out, Console.Error, Environment.GetEnvironmentVariable, GatewayHost.RunAsync);

    internal static async Task<int> RunAsync(
        string[] args,
        TextWriter stdout,
        TextWriter stderr,
        Func<string, string?> getEnv,
        Func<GatewayConfig, CancellationToken, Task<int>> serve,
        Func<BridgeOptions, CancellationToken, Task<int>>? bridge = null
    )
    {
        ArgumentNullException.ThrowIfNull(args);

        if (args.Length == 0)
        {
            return UsageError(stderr, "missing command");
        }

        var command = args[0];
        switch (command)
        {
            case "help" or "--help" or "-h":
                await stdout.WriteLineAsync(Banner()).ConfigureAwait(false);
                await stdout.WriteLineAsync().ConfigureAwait(false);
                await stdout.WriteAsync(Usage).ConfigureAwait(false);
                await stdout.WriteLineAsync().ConfigureAwait(false);
                return ExitOk;
            case "--version" or "version":
                if (args.Length > 1)
                {
                    return UsageError(stderr, $"unexpected argument '{args[1]}'");
                }

                await stdout.WriteLineAsync(Banner()).ConfigureAwait(false);
                return ExitOk;
            case "serve" or "check":
                break;
            case "bridge":
                return await RunBridgeAsync(args, stdout, stderr, getEnv, bridge ?? BridgeServer.RunAsync).ConfigureAwait(false);
            default:
                return UsageError(stderr, command.StartsWith('-') ? $"unknown option '{command}'" : $"unknown command '{command}'");
        }

        string? configPath = null;
        for (var i = 1; i < args.Length; i++)
        {
            var arg = args[i];
            string value;
            if (arg is "--help" or "-h")
            {
                await stdout.WriteAsync(Usage).ConfigureAwait(false);
                await stdout.WriteLineAsync().ConfigureAwait(false);
                return ExitOk;
            }
            else if (arg == "--config")
            {
                if (i + 1 >= args.Length)
                {
                    return UsageError(stderr, "option --config needs a value: --config FILE");
                }

                value = args[++i];
            }
            else if (arg.StartsWith("--config=", StringComparison.Ordinal))
            {
                value = arg["--config=".Length..];
            }
            else
            {
                return UsageError(stderr, arg.StartsWith('-') ? $"unknown option '{arg}' for {command}" : $"unexpected argument '{arg}' for {command}");
            }

            if (value.Length == 0)
            {
                return UsageError(stderr, "option --config needs a non-empty value");
            }

            if (configPath is not null)
            {
                return UsageError(stderr, "option --config given more than once");
            }

            configPath = value;
        }

        configPath ??= getEnv(ConfigEnvironmentVariable) is { Length: > 0 } fromEnv ? fromEnv : null;
        if (configPath is null)
        {
            return UsageError(stderr, $"{command}: no configuration file; pass --config FILE or set {ConfigEnvironmentVariable}");
        }

        var result = ConfigLoader.Load(configPath, getEnv);
        if (!result.Succeeded)
        {
            foreach (var error in result.Errors)
            {
                await stderr.WriteLineAsync(error).ConfigureAwait(false);
            }

            return ExitInvalidConfig;
        }

        if (command == "check")
        {
            var config = result.Config;
            await stdout
                .WriteLineAsync(
                    string.Create(CultureInfo.InvariantCulture, $"configuration OK: {config.McpServers.Count} servers, {config.Profiles.Count} profiles")
                )
                .ConfigureAwait(false);
            return ExitOk;
        }

        return await serve(result.Config, CancellationToken.None).ConfigureAwait(false);
    }

    private static async Task<int> RunBridgeAsync(
        string[] args,
        TextWriter stdout,
        TextWriter stderr,
        Func<string, string?> getEnv,
        Func<BridgeOptions, CancellationToken, Task<int>> bridge
    )
    {
        string listen = BridgeOptions.DefaultListen,
            path = BridgeOptions.DefaultPath;
        var timeout = TimeSpan.FromSeconds(60);
        var i = 1;
        for (; i < args.Length && args[i].StartsWith('-'); i++)
        {
            var arg = args[i];
            if (arg == "--")
            {
                i++;
                break;
            }

            if (arg is "--help" or "-h")
            {
                await stdout.WriteAsync(Usage).ConfigureAwait(false);
                await stdout.WriteLineAsync().ConfigureAwait(false);
                return ExitOk;
            }

            var eq = arg.IndexOf('=', StringComparison.Ordinal);
            var name = eq < 0 ? arg : arg[..eq];
            if (name is not ("--listen" or "--path" or "--timeout"))
            {
                return UsageError(stderr, $"unknown option '{arg}' for bridge");
            }

            string value;
            if (eq >= 0)
            {
                value = arg[(eq + 1)..];
            }
            else if (i + 1 < args.Length)
            {
                value = args[++i];
            }
            else
            {
                return UsageError(stderr, $"option {name} needs a value");
            }

            switch (name)
            {
                case "--listen" when Uri.TryCreate(value, UriKind.Absolute, out var url) && url.Scheme == "http" && url.AbsolutePath == "/":
                    listen = value;
                    break;
                case "--listen":
                    return UsageError(stderr, $"--listen takes http://HOST:PORT, got '{value}'");
                case "--path" when value.StartsWith('/') && !value.Contains('{', StringComparison.Ordinal) && !value.Contains('?', StringComparison.Ordinal):
                    path = value;
                    break;
                case "--path":
                    return UsageError(stderr, $"--path takes an absolute path such as /mcp, got '{value}'");
                case "--timeout" when int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var seconds) && seconds is > 0 and <= 86_400:
                    timeout = TimeSpan.FromSeconds(seconds);
                    break;
                default:
                    return UsageError(stderr, $"--timeout takes whole seconds from 1 to 86400, got '{value}'");
            }
        }

        if (i >= args.Length || args[i].Length == 0)
        {
            return UsageError(stderr, "bridge: no server command; usage: archestra bridge [options] -- COMMAND [ARGS...]");
        }

        var env = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (System.Collections.DictionaryEntry e in Environment.GetEnvironmentVariables())
        {
            env[(string)e.Key] = (string?)e.Value ?? "";
        }

        var options = new BridgeOptions
        {
            Command = args[i],
            Args = args[(i + 1)..],
            Listen = listen,
            Path = path,
            Timeout = timeout,
            Env = env,
            SessionKey = getEnv("ARCHESTRA_SESSION_KEY") is { Length: > 0 } key ? System.Text.Encoding.UTF8.GetBytes(key) : null,
        };
        if (options.SessionKey is { Length: < 32 })
        {
            return UsageError(stderr, "ARCHESTRA_SESSION_KEY must be at least 32 characters (e.g. openssl rand -hex 32)");
        }

        return await bridge(options, CancellationToken.None).ConfigureAwait(false);
    }

    private static string Banner() => $"archestra {GatewayInfo.InformationalVersion}";

    private static int UsageError(TextWriter stderr, string message)
    {
        stderr.WriteLine($"archestra: {message}");
        stderr.WriteLine();
        stderr.WriteLine(Usage);
        return ExitUsage;
    }
}
