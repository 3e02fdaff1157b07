# expect: reject module-level-statement
# Module code that runs at load time outside any method.
from jadechain import contract, callable

while True:
    pass
