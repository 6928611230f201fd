// diskinv: parse and dispatch; everything else lives in the libraries (STYLE.md rule 10).
#include "cli/cli.h"

int main(int argc, char** argv) { return diskinv::RunCli(argc, argv); }
