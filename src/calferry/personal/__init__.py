"""personal"""
