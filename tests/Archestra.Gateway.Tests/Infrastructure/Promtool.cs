namespace Archestra.Gateway.Tests.Infrastructure;

/// <summary>Prometheus's own checker, for tests that validate metrics text or PromQL with it.</summary>
internal static class Promtool
{
    /// <summary>Its path on PATH; outside CI the test is skipped when it is missing, in CI that is a failure (setup.sh installs it).</summary>
    public static string PathOrSkip()
    {
        foreach (var directory in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries))
        {
            var candidate = Path.Combine(directory, "promtool");
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        const string message = "promtool is not installed (Debian: apt-get install -y prometheus)";
        Assert.True(string.IsNullOrEmpty(Environment.GetEnvironmentVariable("CI")), message + "; CI must install it");
        Assert.Skip(message);
        return "";
    }
}
