# Type stubs for the parts of authlib (which ships none) that identity subclasses and calls;
# attributes authlib sets at run time on requests and grants are typed Any, as authlib uses them.
