// A shared library with no kiln entry point.
extern "C" int some_function() { return 42; }
