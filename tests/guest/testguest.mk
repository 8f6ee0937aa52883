# placeholder: the test guest build rules (filled in by the test-guest work)
testguest:
