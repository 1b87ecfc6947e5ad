using System.Globalization;
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
          archestra help                    show this help (also --help, -h)
          archestra --version               print the version

        Options:
          --config FILE, --config=FILE      the JSON configuration file (format: docs/configuration.md)
          -h, --help                        show this help

        Environment:
          ARCHESTRA_CONFIG                  the configuration file when --config is not given

        Exit codes: 0 success, 1 invalid configuration, 2 bad command line.
        """;

    /// <summary>Runs the command in <paramref name="args"/> and returns the process exit code.</summary>
    public static Task<int> RunAsync(string[] args) =>
        RunAsync(args, Console.Out, Console.Error, Environment.GetEnvironmentVariable, GatewayHost.RunAsync);

    internal static async Task<int> RunAsync(
        string[] args,
        TextWriter stdout,
        TextWriter stderr,
        Func<string, string?> getEnv,
        Func<GatewayConfig, CancellationToken, Task<int>> serve)
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
                return UsageError(stderr, arg.StartsWith('-')
                    ? $"unknown option '{arg}' for {command}"
                    : $"unexpected argument '{arg}' for {command}");
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
            await stdout.WriteLineAsync(string.Create(CultureInfo.InvariantCulture,
                $"configuration OK: {config.McpServers.Count} servers, {config.Profiles.Count} profiles")).ConfigureAwait(false);
            return ExitOk;
        }

        return await serve(result.Config, CancellationToken.None).ConfigureAwait(false);
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
