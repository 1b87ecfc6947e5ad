namespace Archestra.Runtime.Tests.Support;

internal static class Paths
{
    private static readonly Lazy<string> s_root = new(FindRoot);

    /// <summary>The repository root: the directory that holds Archestra.sln.</summary>
    public static string Root => s_root.Value;

    public static string ServerEverything =>
        Path.Combine(Root, "tests", "node", "node_modules", "@modelcontextprotocol", "server-everything", "dist", "index.js");

    public static string StdioTestServer => Path.Combine(Root, "tests", "Archestra.Runtime.Tests", "Fixtures", "stdio-test-server.mjs");

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Archestra.sln")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException("Archestra.sln not found above " + AppContext.BaseDirectory);
    }
}
